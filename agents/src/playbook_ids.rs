//! The ids of the built-in playbooks the specialists propose (see `playbooks/catalog/`).
pub const RAISE_MEMORY_LIMIT: &str = "raise-memory-limit";
pub const RESTART_AND_RAISE_MEMORY: &str = "restart-and-raise-memory";
pub const DELETE_POD: &str = "delete-pod";
pub const RESTART_WORKLOAD: &str = "restart-workload";
pub const ROLLBACK_DEPLOYMENT: &str = "rollback-deployment";
pub const CORDON_AND_DRAIN: &str = "cordon-and-drain";
pub const SCALE_OUT: &str = "scale-out";
pub const QUARANTINE: &str = "quarantine-egress";
