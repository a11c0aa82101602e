//! medic as a library: the configuration, the composition root that builds the actor graph and the HTTP
//! server, and the renderings the command line prints. The binary (`main.rs`) parses arguments and calls
//! into here; end-to-end tests call the same functions.
#![forbid(unsafe_code)]

pub mod app;
pub mod bench;
pub mod config;
pub mod demo;
pub mod http;
pub mod lab_bench;
pub mod lab_rig;
pub mod lab_time;
pub mod notify;
pub mod resume;
pub mod secrets;
pub mod telemetry;
pub mod timeline;

pub use app::{Medic, Overrides, start};
pub use config::MedicConfig;
