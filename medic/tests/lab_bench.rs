//! The scenario suite (`chaos-tests/scenarios`), as `medic lab bench` runs it: each scenario in a fresh lab
//! at accelerated time with medic reached through its real webhook. It must not fall below the figures the
//! suite reaches (see chaos-tests/README.md), and renaming every service and drawing the log phrasings
//! with another seed must not change what medic gets right.
use indicatif::ProgressBar;
use medic::lab_bench::{self, BenchConfig, BenchReport, ScenarioResult};
use std::path::Path;

/// The floor, over the scenarios whose outcome does not hang on a race (see `racy`): what the suite reaches
/// on a loaded two-core machine at 60x — diagnosis, localisation and mitigation all 31, no unsafe write —
/// less a scenario. Raise it when medic gets better.
struct Floor {
    diagnosis: f64,
    localisation: f64,
    mitigation: f64,
    /// Over the whole suite. How many pass moves with the machine's load (35 to 37 seen): medic reacts in
    /// real time, so at 60x a starved process stretches the virtual MTTR past some scenarios' limits, and
    /// the cascades' incidents race each other.
    passed: usize,
}

const FLOOR: Floor = Floor { diagnosis: 0.96, localisation: 0.95, mitigation: 0.95, passed: 31 };

/// Scenarios whose outcome hangs on a race between two of the lab's clocks: a node's 40 s grace before it is
/// marked NotReady against the first alert; two faults' incidents against each other (whether the second
/// fault's symptoms reach medic while the first incident is open decides between acting and escalating).
fn racy(tags: &[String]) -> bool {
    tags.iter().any(|t| t == "cascade" || t == "node")
}

fn config(seed: u64, rename: bool) -> BenchConfig {
    BenchConfig {
        scenarios: Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaos-tests/scenarios"),
        seed,
        // Fast enough for CI; the decisions do not move with the speed, the virtual MTTRs do.
        speed: 60.0,
        parallel: 4,
        rename,
        only: Vec::new(),
        keep: None,
    }
}

fn share(rows: &[&ScenarioResult], outcome: impl Fn(&ScenarioResult) -> Option<bool>) -> f64 {
    let counted: Vec<bool> = rows.iter().filter_map(|r| outcome(r)).collect();
    counted.iter().filter(|ok| **ok).count() as f64 / counted.len().max(1) as f64
}

fn check_floor(report: &BenchReport) {
    let t = &report.totals;
    let context = format!("{}\n{}\n{}", report.table(), report.summary(), report.failures());
    assert!(t.scenarios >= 30 && t.controls >= 4 && t.cascades >= 4, "{context}");
    assert_eq!(t.writes_in_no_fault_controls, 0, "medic wrote in a no-fault control\n{context}");
    assert!(t.passed >= FLOOR.passed, "{} passed, floor {}\n{context}", t.passed, FLOOR.passed);
    let steady: Vec<&ScenarioResult> = report.scenarios.iter().filter(|r| !racy(&r.tags)).collect();
    let unsafe_writes: usize = steady.iter().map(|r| r.unsafe_writes).sum();
    assert_eq!(unsafe_writes, 0, "an unsafe write\n{context}");
    let diagnosis = share(&steady, |r| Some(r.diagnosis_ok));
    let localisation = share(&steady, |r| r.target_ok);
    let mitigation = share(&steady, |r| r.mitigated);
    let figures = format!("diagnosis {diagnosis:.3}, localisation {localisation:.3}, mitigation {mitigation:.3}");
    assert!(diagnosis >= FLOOR.diagnosis, "{figures}\n{context}");
    assert!(localisation >= FLOOR.localisation, "{figures}\n{context}");
    assert!(mitigation >= FLOOR.mitigation, "{figures}\n{context}");
}

#[test]
fn the_suite_holds_its_floor_whatever_the_services_are_called() {
    let system = actix_rt::System::new();
    let (plain, renamed) = system.block_on(async {
        let (plain, renamed) = (config(7, false), config(8, true));
        let (a, b) = (ProgressBar::hidden(), ProgressBar::hidden());
        futures::join!(lab_bench::run_suite(&plain, &a), lab_bench::run_suite(&renamed, &b))
    });
    let (plain, renamed) = (plain.unwrap(), renamed.unwrap());
    println!("{}\n{}", plain.table(), plain.summary());
    println!("renamed, seed 8:\n{}\n{}", renamed.table(), renamed.summary());
    check_floor(&plain);
    check_floor(&renamed);
    // The same diagnosis, localisation and mitigation scenario by scenario: names and phrasings decide
    // nothing. (Pass or fail also weighs the MTTR, which moves with the machine's load.)
    let outcomes = |r: &BenchReport| {
        r.scenarios
            .iter()
            .filter(|s| !racy(&s.tags))
            .map(|s| (s.name.clone(), s.diagnosis_ok, s.target_ok, s.mitigated))
            .collect::<Vec<_>>()
    };
    let failed = |r: &BenchReport| r.scenarios.iter().filter(|s| !s.passed).map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        outcomes(&plain),
        outcomes(&renamed),
        "failed as named: {:?}; failed renamed: {:?}\n{}",
        failed(&plain),
        failed(&renamed),
        renamed.failures()
    );
}
