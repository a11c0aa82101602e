//! medic-lab: a simulated Kubernetes cluster that kubectl and kube-rs use like a real one.
//!
//! Module map:
//! - `clock`: the virtual clock (real speed or accelerated, deterministic ticks).
//! - `runtime`: the boundary between the kubelet model and the application model.
//! - `logs`: container logs, current and previous.
//! - `app`: the application model (topology, request flow, processes, log phrasings).
//! - `faults`: Chaos Mesh experiments and the lab's own faults, injected and recovered each tick.
//! - `alerts`: the built-in alert evaluator and its Alertmanager-v4 webhook notifications.
//! - `metrics`: `/metrics` (kube-state-metrics, cAdvisor, application and datastore series).
//! - `store`: the object store (etcd and the registry of a real API server), watches, garbage collection.
//! - `api`: the HTTP API server kubectl and kube-rs talk to.
//! - `controllers`: Deployment, ReplicaSet, scheduler, node lifecycle and Endpoints controllers.
//! - `kubelet`: the kubelets: container lifecycles, back-off, probes, OOM kills, node status.
//! - `sim`: the simulation driver that ticks the clock and runs the controllers and kubelets.
//! - `error`: the lab's error type; API errors map to `Status` objects.
//! - `kubeconfig`: the kubeconfig kubectl and kube-rs use to reach the lab.
//! - `perf`: measurements of the lab (`medic lab perf`, the `api` bench).
//! - `handle`: [`Lab`] and [`LabConfig`], what the rest of medic starts and stops.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod api;
pub mod app;
pub mod clock;
pub mod controllers;
pub mod error;
pub mod faults;
mod handle;
pub mod kubeconfig;
pub mod kubelet;
pub mod logs;
pub mod metrics;
pub mod perf;
pub mod runtime;
pub mod sim;
pub mod store;

pub use error::{Error, Result};
pub use handle::{AlertWebhookConfig, Lab, LabConfig, apply_yaml};
