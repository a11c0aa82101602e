//! A Kyverno validate engine: ClusterPolicy/Policy evaluation and the Kyverno CLI test harness
#![forbid(unsafe_code)]
