//! The Specialist trait and the Network, Database and Compute specialists
#![forbid(unsafe_code)]
