//! The Director actor and the pure decide function
#![forbid(unsafe_code)]
