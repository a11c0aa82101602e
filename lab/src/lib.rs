//! medic-lab: a simulated Kubernetes cluster that kubectl and kube-rs use like a real one.
//!
//! Module map:
//! - `clock`: the virtual clock (real speed or accelerated, deterministic ticks).
//! - `runtime`: the boundary between the kubelet model and the application model.
//! - `logs`: container logs, current and previous.
#![forbid(unsafe_code)]

pub mod clock;
pub mod logs;
pub mod runtime;
