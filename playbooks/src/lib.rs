//! medic-playbooks: versioned YAML remediation recipes.
//!
//! A playbook says which root causes it remedies (`match`), what it needs (`parameters`), what it does
//! (`steps`, each an Executor action whose fields may refer to the hypothesis, the incident and its
//! context), how to tell it worked (`verify`), whether to undo it when it did not (`rollback`), how risky
//! it is and whether a human must approve it. Files are validated on load; every error names the file and
//! the field path. `Playbook::plan` renders a playbook into a `medic_core::Plan` (pure).
//!
//! The built-in catalog (`catalog/*.yaml`) is embedded in the binary; `Catalog::builtin_with_overrides`
//! lets a folder replace or extend it.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod error;
pub mod load;
pub mod render;
pub mod schema;
pub mod template;
pub mod values;

pub use catalog::Catalog;
pub use error::{Error, Issue, Result};
pub use load::parse_playbook;
pub use schema::{Approval, ParamType, Parameter, Playbook, RollbackMode};
