//! The Executor actor: guard, actions through kube-rs, verification and rollback
#![forbid(unsafe_code)]
