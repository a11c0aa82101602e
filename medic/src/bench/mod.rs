//! `medic bench`: figures of medic's own speed.
//!
//! - `intake`: alerts per second the webhook intake sustains with persistence on.
//! - `pipeline`: alert received → decision → first action applied, on the lab.
use anyhow::{Context, Result};

pub mod intake;
pub mod pipeline;

/// The `p`th percentile (0..100, nearest rank) of sorted `values`; NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A loopback HTTP client for the load generators (plain HTTP; rustls with ring installed for reqwest).
pub fn http_client() -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().pool_max_idle_per_host(512).build().context("building the HTTP client")
}
