//! Alert intake normalisation, dedup and grouping, and the ContextCollector actor
#![forbid(unsafe_code)]
