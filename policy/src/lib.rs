//! A Kyverno validate engine: ClusterPolicy/Policy evaluation and the Kyverno CLI test harness.
#![forbid(unsafe_code)]

pub mod duration;
pub mod error;
pub mod gofmt;
pub mod jmespath;
pub mod pattern;
pub mod quantity;
pub mod wildcard;
pub mod yaml;

pub use error::{Error, Result};
