//! The bench's report: a table per scenario and the totals, for people; the same figures as JSON.
use serde::Serialize;
use std::fmt::Write as _;

use super::score::{ScenarioResult, Totals};

/// Everything a bench run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub seed: u64,
    pub speed: f64,
    /// The services were renamed (the generality check).
    pub renamed: bool,
    /// Real seconds the suite took.
    pub wall_secs: f64,
    pub scenarios: Vec<ScenarioResult>,
    pub totals: Totals,
}

fn mark(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |s| format!("{s:.0}s"))
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl BenchReport {
    /// The per-scenario table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<34} {:<6} {:<38} {:<44} {:<6} {:<26} {:<9} {:>6} {:>6} {:>6}  RESULT",
            "SCENARIO", "TOPO", "EXPECTED", "DIAGNOSED", "TARGET", "REMEDY", "MITIGATED", "MTTR", "WRITES", "UNSAFE"
        );
        for r in &self.scenarios {
            let target = r.target_ok.map_or("-", mark);
            let mitigated = r.mitigated.map_or("-", mark);
            let _ = writeln!(
                out,
                "{:<34} {:<6} {:<38} {:<44} {:<6} {:<26} {:<9} {:>6} {:>6} {:>6}  {}",
                clip(&r.name, 34),
                clip(&r.topology, 6),
                clip(&r.expected, 38),
                clip(&r.diagnosed, 44),
                target,
                clip(&r.remedy, 26),
                mitigated,
                secs(r.mttr_secs),
                r.writes,
                r.unsafe_writes,
                if r.passed { "pass" } else { "FAIL" },
            );
        }
        out
    }

    /// The totals, one figure a line.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} scenarios ({} no-fault controls, {} cascades), {} passed; seed {}, speed {}x{}, {:.0} s",
            t.scenarios,
            t.controls,
            t.cascades,
            t.passed,
            self.seed,
            self.speed,
            if self.renamed { ", services renamed" } else { "" },
            self.wall_secs
        );
        let rows = [
            ("diagnosis accuracy", percent(t.diagnosis_accuracy)),
            ("localisation accuracy", percent(t.localisation_accuracy)),
            ("mitigation rate", percent(t.mitigation_rate)),
            ("median MTTR (fault → healthy)", secs(t.median_mttr_secs)),
            ("p90 MTTR", secs(t.p90_mttr_secs)),
            ("median detection (fault → first alert)", secs(t.median_detection_secs)),
            ("median MTTR beyond detection", secs(t.median_mttr_after_detection_secs)),
            ("writes", t.writes.to_string()),
            ("writes in no-fault controls", t.writes_in_no_fault_controls.to_string()),
            ("unsafe writes", t.unsafe_writes.to_string()),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "  {name:<40} {value}");
        }
        let _ = write!(out, "  (times are virtual seconds of the lab)");
        out
    }

    /// Why the scenarios that failed did.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for r in self.scenarios.iter().filter(|r| !r.passed || !r.notes.is_empty()) {
            let _ =
                writeln!(out, "{}: {}", r.name, if r.notes.is_empty() { "failed".into() } else { r.notes.join("; ") });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cells_are_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(secs(Some(41.6)), "42s");
        assert_eq!(percent(0.96666), "96.7%");
    }
}
