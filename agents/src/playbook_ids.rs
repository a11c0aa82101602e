//! The ids of the built-in playbooks the specialists propose (`playbooks/catalog/<id>.yaml`). The
//! catalog names each built-in playbook after the root-cause class it remedies.
pub const OOM_MEMORY_LIMIT: &str = "oom-memory-limit";
pub const MEMORY_LEAK: &str = "memory-leak";
pub const CRASH_TRANSIENT: &str = "crash-transient";
pub const BAD_ROLLOUT: &str = "bad-rollout";
pub const CONFIG_ERROR: &str = "config-error";
pub const IMAGE_PULL: &str = "image-pull";
pub const NODE_NOT_READY: &str = "node-not-ready";
pub const CPU_SATURATION: &str = "cpu-saturation";
pub const NETWORK_DEGRADED: &str = "network-degraded";
pub const DEPENDENCY_DOWN: &str = "dependency-down";
pub const DB_CONNECTION_EXHAUSTION: &str = "db-connection-exhaustion";
pub const SUSPICIOUS_EGRESS: &str = "suspicious-egress";
