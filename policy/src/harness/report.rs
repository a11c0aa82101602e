//! Scores of a harness run: per row, per test, per category, and a plain-text table of the failures.
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// No result for a listed resource (rule not applicable): passes, as in Kyverno's harness.
    Excluded,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowOutcome {
    pub policy: String,
    pub rule: String,
    pub resource: String,
    pub expected: String,
    pub actual: String,
    pub verdict: Verdict,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub path: String,
    pub category: String,
    pub rows: Vec<RowOutcome>,
    /// The test could not be loaded; it counts as failed.
    pub error: Option<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.rows.iter().all(|r| r.verdict != Verdict::Fail)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CategorySummary {
    pub category: String,
    pub rows_passed: usize,
    pub rows_total: usize,
    pub rows_excluded: usize,
    pub tests_passed: usize,
    pub tests_total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tests: Vec<TestOutcome>,
}

impl Report {
    pub fn categories(&self) -> Vec<CategorySummary> {
        let mut by: BTreeMap<String, CategorySummary> = BTreeMap::new();
        for t in &self.tests {
            let c = by
                .entry(t.category.clone())
                .or_insert_with(|| CategorySummary { category: t.category.clone(), ..Default::default() });
            c.tests_total += 1;
            if t.passed() {
                c.tests_passed += 1;
            }
            for r in &t.rows {
                c.rows_total += 1;
                match r.verdict {
                    Verdict::Pass => c.rows_passed += 1,
                    Verdict::Excluded => {
                        c.rows_passed += 1;
                        c.rows_excluded += 1;
                    }
                    Verdict::Fail => {}
                }
            }
        }
        by.into_values().collect()
    }

    pub fn totals(&self) -> CategorySummary {
        self.categories().into_iter().fold(
            CategorySummary { category: "total".into(), ..Default::default() },
            |mut a, c| {
                a.rows_passed += c.rows_passed;
                a.rows_total += c.rows_total;
                a.rows_excluded += c.rows_excluded;
                a.tests_passed += c.tests_passed;
                a.tests_total += c.tests_total;
                a
            },
        )
    }

    pub fn failed(&self) -> bool {
        self.tests.iter().any(|t| !t.passed())
    }

    /// The failures as a table, then the totals per category.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let failures: Vec<(&TestOutcome, Option<&RowOutcome>)> = self
            .tests
            .iter()
            .flat_map(|t| {
                let rows: Vec<(&TestOutcome, Option<&RowOutcome>)> =
                    t.rows.iter().filter(|r| r.verdict == Verdict::Fail).map(|r| (t, Some(r))).collect();
                if t.error.is_some() { vec![(t, None)] } else { rows }
            })
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "FAILURES");
            let _ = writeln!(
                out,
                "{:<4} {:<34} {:<34} {:<28} {:<7} {:<9} REASON",
                "#", "POLICY", "RULE", "RESOURCE", "WANT", "GOT"
            );
            for (i, (t, row)) in failures.iter().enumerate() {
                match row {
                    Some(r) => {
                        let _ = writeln!(
                            out,
                            "{:<4} {:<34} {:<34} {:<28} {:<7} {:<9} {} [{}]",
                            i + 1,
                            clip(&r.policy, 34),
                            clip(&r.rule, 34),
                            clip(&r.resource, 28),
                            r.expected,
                            clip(&r.actual, 9),
                            r.reason,
                            t.path
                        );
                        if !r.message.is_empty() {
                            let _ = writeln!(out, "     message: {}", clip(&r.message, 200));
                        }
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "{:<4} test could not be loaded: {} [{}]",
                            i + 1,
                            t.error.as_deref().unwrap_or(""),
                            t.path
                        );
                    }
                }
            }
            out.push('\n');
        }
        let rows: Vec<_> = self.categories().into_iter().chain(std::iter::once(self.totals())).collect();
        let width = rows.iter().map(|c| c.category.chars().count()).max().unwrap_or(0).max(28);
        let _ = writeln!(out, "{:<width$} {:>14} {:>10} {:>14}", "CATEGORY", "ROWS", "EXCLUDED", "TESTS");
        for c in rows {
            let _ = writeln!(
                out,
                "{:<width$} {:>14} {:>10} {:>14}",
                c.category,
                format!("{}/{}", c.rows_passed, c.rows_total),
                c.rows_excluded,
                format!("{}/{}", c.tests_passed, c.tests_total)
            );
        }
        out
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}
