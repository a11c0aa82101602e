//! A Kyverno validate engine: ClusterPolicy/Policy evaluation and the Kyverno CLI test harness.
#![forbid(unsafe_code)]

pub mod autogen;
pub mod cel;
pub mod conditions;
pub mod context;
pub mod duration;
pub mod engine;
pub mod error;
pub mod gofmt;
pub mod harness;
pub mod jmespath;
pub mod matching;
pub mod pattern;
pub mod policy;
pub mod quantity;
pub mod selector;
pub mod set;
pub mod variables;
pub mod wildcard;
pub mod yaml;

pub use engine::{AdmissionRequest, NoValues, Operation, RuleResult, Status, Values};
pub use error::{Error, Result};
pub use matching::UserInfo;
pub use set::PolicySet;
