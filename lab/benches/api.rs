//! The lab's performance figures: LIST latency with 1,000 pods (PodList and Table), watch delivery
//! latency, and the CPU the default topology uses at --speed 1 and --speed 100.
//!
//! `cargo bench -p medic-lab --bench api` (set `LAB_PERF_CPU_SECONDS=0` to skip the CPU part).
use std::time::Duration;

use medic_lab::perf::{PerfOptions, run};

fn main() {
    // `cargo test` runs benches once as tests with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let cpu_seconds = std::env::var("LAB_PERF_CPU_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let options = if quick {
        PerfOptions { pods: 100, requests: 20, events: 50, cpu_interval: Duration::ZERO, speeds: vec![] }
    } else {
        PerfOptions { cpu_interval: Duration::from_secs(cpu_seconds), ..PerfOptions::default() }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    match runtime.block_on(run(&options)) {
        Ok(report) => print!("{report}"),
        Err(error) => {
            eprintln!("lab perf failed: {error}");
            std::process::exit(1);
        }
    }
}
