//! `medic lab bench`: the scenario suite, each scenario in a fresh lab at accelerated time with medic
//! reached through its real webhook endpoint, scored against what the scenario expects.
//!
//! - `scenario`: the scenario files (`chaos-tests/scenarios/*.yaml`), loaded and validated.
//! - `topology`: built-in, file or inline topologies, with a scenario's own log lines merged in.
//! - `rename`: every service renamed, to show the rules do not depend on names.
//! - `run`: one scenario on a rig: steps at their moments, health sampled, medic's work read back.
//! - `health`: the referee's view of the application's health.
//! - `alert`: synthetic Alertmanager webhooks (noise and flapping alerts).
//! - `score` and `report`: rows, totals, the table and the JSON.
use anyhow::Result;
use futures::StreamExt;
use indicatif::ProgressBar;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

pub mod alert;
pub mod health;
pub mod rename;
pub mod report;
pub mod run;
pub mod scenario;
pub mod score;
pub mod topology;

pub use report::BenchReport;
pub use run::RunOptions;
pub use scenario::Scenario;
pub use score::{ScenarioResult, Totals};

/// How to run the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    pub scenarios: PathBuf,
    pub seed: u64,
    /// Virtual seconds per real second.
    pub speed: f64,
    /// Scenarios run at once (each in its own lab and medic).
    pub parallel: usize,
    /// Rename every service of each topology (names drawn from the seed).
    pub rename: bool,
    /// Only the scenarios whose name contains one of these (all when empty).
    pub only: Vec<String>,
    /// Keep each scenario's store (incidents, timelines, audit trail) under this folder.
    pub keep: Option<PathBuf>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            scenarios: PathBuf::from("chaos-tests/scenarios"),
            seed: 7,
            speed: 30.0,
            parallel: 3,
            rename: false,
            only: Vec::new(),
            keep: None,
        }
    }
}

/// The scenarios of the suite as this configuration runs them (filtered, renamed).
pub fn scenarios(config: &BenchConfig) -> Result<Vec<Scenario>> {
    let mut all = scenario::load_dir(&config.scenarios)?;
    if !config.only.is_empty() {
        all.retain(|s| config.only.iter().any(|o| s.name.contains(o.as_str())));
    }
    if config.rename {
        all = all
            .iter()
            .map(|s| {
                let names = rename::service_names(s);
                rename::Renaming::for_services(names.iter().map(String::as_str), config.seed).scenario(s)
            })
            .collect();
    }
    Ok(all)
}

/// Runs the suite. Must run inside an actix system (medic's actors live there). `progress` shows which
/// scenarios are running and prints a line as each one ends.
pub async fn run_suite(config: &BenchConfig, progress: &ProgressBar) -> Result<BenchReport> {
    let started = Instant::now();
    let scenarios = scenarios(config)?;
    progress.set_length(scenarios.len() as u64);
    let options = RunOptions { speed: config.speed, seed: config.seed, keep: config.keep.clone() };
    let running: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let show = |running: &BTreeSet<String>| running.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut results: Vec<(usize, ScenarioResult)> = futures::stream::iter(scenarios.iter().enumerate())
        .map(|(index, scenario)| {
            let running = &running;
            let options = &options;
            async move {
                {
                    let mut names = running.lock().unwrap_or_else(|e| e.into_inner());
                    names.insert(scenario.name.clone());
                    progress.set_message(show(&names));
                }
                let result = match run::run(scenario, options).await {
                    Ok(observation) => score::score(scenario, &observation),
                    Err(e) => failed(scenario, format!("{e:#}")),
                };
                {
                    let mut names = running.lock().unwrap_or_else(|e| e.into_inner());
                    names.remove(&scenario.name);
                    progress.set_message(show(&names));
                }
                progress.println(format!(
                    "{} {:<34} {:<40} → {}",
                    if result.passed { "pass" } else { "FAIL" },
                    result.name,
                    result.expected,
                    result.diagnosed
                ));
                progress.inc(1);
                (index, result)
            }
        })
        .buffer_unordered(config.parallel.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let scenarios: Vec<ScenarioResult> = results.into_iter().map(|(_, r)| r).collect();
    let totals = score::totals(&scenarios);
    Ok(BenchReport {
        seed: config.seed,
        speed: config.speed,
        renamed: config.rename,
        wall_secs: started.elapsed().as_secs_f64(),
        scenarios,
        totals,
    })
}

/// The row of a scenario that could not be run at all.
fn failed(scenario: &Scenario, why: String) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        topology: scenario.topology_name.clone(),
        tags: scenario.tags.clone(),
        outcome_expected: scenario.expect.outcome,
        expected: scenario.expect.label(),
        diagnosed: "-".into(),
        diagnosis_ok: false,
        target_ok: (!scenario.expect.causes.is_empty()).then_some(false),
        remedy: "-".into(),
        remedy_ok: false,
        mitigated: (scenario.expect.outcome == scenario::Outcome::Repaired).then_some(false),
        detection_secs: None,
        mttr_secs: None,
        max_mttr_secs: scenario.expect.max_mttr.as_secs_f64(),
        writes: 0,
        unsafe_writes: 0,
        incidents: 0,
        passed: false,
        notes: vec![format!("could not run: {why}")],
    }
}
