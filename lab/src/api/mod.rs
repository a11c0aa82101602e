//! The Kubernetes API server subset kubectl and kube-rs use.
pub mod selector;
