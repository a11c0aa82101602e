//! One module per top-level command.
pub mod audit;
pub mod bench;
pub mod config;
pub mod demo;
pub mod incidents;
pub mod lab;
pub mod memory;
pub mod policy;
pub mod serve;
