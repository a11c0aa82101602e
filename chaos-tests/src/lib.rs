//! End-to-end tests and the scenario bench harness of medic on the lab
#![forbid(unsafe_code)]
