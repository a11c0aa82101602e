//! Test support shared by medic's integration tests.
pub mod slack_stand_in;
