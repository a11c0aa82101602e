//! Rule files: the lab's (`lab/rules/medic-lab-rules.yml`, the kube-prometheus rules and the lab's service
//! rules) and medic's own (`chaos-tests/rules/medic-rules.yml`), with their `for:` durations shortened for a
//! lab that should alert within seconds, and optionally their range windows too (a `[5m]` window keeps an
//! alert firing five minutes after its cause is gone, longer than a lab's scenario lasts). Nothing else of a
//! rule changes: Prometheus evaluates the files' own expressions.
use serde_yaml_ng::Value;
use std::time::Duration;

use crate::error::{Error, Result};

/// One Prometheus rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    /// The file name Prometheus loads it under (`medic-rules.yml`).
    pub name: String,
    pub yaml: String,
}

/// An alerting rule as a rule file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    pub alert: String,
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
}

impl RuleFile {
    pub fn new(name: impl Into<String>, yaml: impl Into<String>) -> Self {
        Self { name: name.into(), yaml: yaml.into() }
    }

    /// The lab's rules: the kube-prometheus rules (monitoring-mixins) and the lab's service rules.
    pub fn lab() -> Self {
        Self::new("medic-lab-rules.yml", include_str!("../../../lab/rules/medic-lab-rules.yml"))
    }

    /// medic's own rules: OOM kills and the error-budget burn of the services' errors and latency.
    pub fn medic() -> Self {
        Self::new("medic-rules.yml", include_str!("../../rules/medic-rules.yml"))
    }

    fn document(&self) -> Result<Value> {
        serde_yaml_ng::from_str(&self.yaml)
            .map_err(|e| Error::Rules { name: self.name.clone(), message: format!("not YAML: {e}") })
    }

    /// The alerting rules of every group.
    pub fn alerts(&self) -> Result<Vec<AlertRule>> {
        let doc = self.document()?;
        let mut alerts = Vec::new();
        for (g, rule) in rules(&doc, &self.name)?.enumerate().flat_map(|(g, rules)| rules.map(move |r| (g, r))) {
            let Some(alert) = rule.get("alert").and_then(Value::as_str) else { continue };
            let expr = rule.get("expr").and_then(Value::as_str).unwrap_or_default().to_string();
            let for_ = match rule.get("for") {
                None => Duration::ZERO,
                Some(value) => value.as_str().and_then(parse_duration).ok_or_else(|| Error::Rules {
                    name: self.name.clone(),
                    message: format!("groups[{g}] alert {alert}: `for` is not a duration: {value:?}"),
                })?,
            };
            alerts.push(AlertRule { alert: alert.to_string(), expr, for_ });
        }
        Ok(alerts)
    }

    /// The same rules with every `for:` longer than `max` shortened to `max`.
    pub fn with_max_for(&self, max: Duration) -> Result<RuleFile> {
        self.rewrite_rules(|rule| {
            let longer = rule.get("for").and_then(Value::as_str).and_then(parse_duration).is_some_and(|d| d > max);
            if longer {
                rule.insert(Value::from("for"), Value::from(format_duration(max)));
            }
        })
    }

    /// The same rules with every range window (`[10m]`) of an expression longer than `max` shortened to
    /// `max`. Subqueries (`[5m:1m]`) and brackets inside label values are left alone.
    pub fn with_max_window(&self, max: Duration) -> Result<RuleFile> {
        self.rewrite_rules(|rule| {
            let Some(expr) = rule.get("expr").and_then(Value::as_str) else { return };
            let shortened = shorten_windows(expr, max);
            if shortened != expr {
                rule.insert(Value::from("expr"), Value::from(shortened));
            }
        })
    }

    /// The same file with `rewrite` applied to every rule of every group.
    fn rewrite_rules(&self, mut rewrite: impl FnMut(&mut serde_yaml_ng::Mapping)) -> Result<RuleFile> {
        let mut doc = self.document()?;
        let name = self.name.clone();
        let groups = doc
            .get_mut("groups")
            .and_then(Value::as_sequence_mut)
            .ok_or_else(|| Error::Rules { name: name.clone(), message: "no `groups` list".into() })?;
        for group in groups {
            let Some(rules) = group.get_mut("rules").and_then(Value::as_sequence_mut) else { continue };
            rules.iter_mut().filter_map(Value::as_mapping_mut).for_each(&mut rewrite);
        }
        let yaml = serde_yaml_ng::to_string(&doc)
            .map_err(|e| Error::Rules { name: name.clone(), message: format!("writing it back: {e}") })?;
        Ok(RuleFile { name, yaml })
    }
}

/// `expr` with every `[duration]` longer than `max` written as `[max]`.
fn shorten_windows(expr: &str, max: Duration) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    let mut quoted = false;
    while let Some(i) = rest.find(['[', '"']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('"') {
            quoted = !quoted;
            out.push('"');
            rest = &rest[1..];
            continue;
        }
        let window = rest[1..]
            .find(']')
            .map(|end| &rest[1..=end])
            .and_then(|inner| parse_duration(inner).map(|d| (inner.len() + 2, d)));
        match window {
            Some((len, d)) if !quoted && d > max => {
                out.push_str(&format!("[{}]", format_duration(max)));
                rest = &rest[len..];
            }
            _ => {
                out.push('[');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn rules<'a>(doc: &'a Value, name: &str) -> Result<impl Iterator<Item = impl Iterator<Item = &'a Value>>> {
    let groups = doc
        .get("groups")
        .and_then(Value::as_sequence)
        .ok_or_else(|| Error::Rules { name: name.to_string(), message: "no `groups` list".into() })?;
    Ok(groups.iter().map(|g| g.get("rules").and_then(Value::as_sequence).into_iter().flatten()))
}

/// A Prometheus duration: `1h30m`, `90s`, `500ms` (units y, w, d, h, m, s, ms, largest first).
pub fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let millis = UNITS.iter().find(|(u, _)| *u == &rest[..unit])?.1;
        total = total.checked_add(number.checked_mul(millis)?)?;
        rest = &rest[unit..];
    }
    (!text.is_empty()).then(|| Duration::from_millis(total))
}

/// The shortest Prometheus spelling of a duration (`5s`, `1m30s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let mut millis = d.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_longer_range_windows_are_shortened() {
        let minute = Duration::from_secs(60);
        let cases = [
            ("max_over_time(x{reason=\"A\"}[5m]) >= 1", "max_over_time(x{reason=\"A\"}[1m]) >= 1"),
            ("rate(a[30s]) / rate(b[10m])", "rate(a[30s]) / rate(b[1m])"),
            ("max_over_time(rate(a[1m])[5m:1m])", "max_over_time(rate(a[1m])[5m:1m])"),
            ("a{code=~\"[5m]\"}", "a{code=~\"[5m]\"}"),
            ("up == 1", "up == 1"),
        ];
        for (expr, want) in cases {
            assert_eq!(shorten_windows(expr, minute), want, "{expr}");
        }
        let lab = RuleFile::lab().with_max_window(minute).unwrap();
        let crash = lab.alerts().unwrap().into_iter().find(|a| a.alert == "KubePodCrashLooping").unwrap();
        assert!(crash.expr.contains("[1m]") && !crash.expr.contains("[5m]"), "{}", crash.expr);
    }

    #[test]
    fn durations_read_and_write_as_prometheus_spells_them() {
        let cases = [
            ("30s", Some(30_000)),
            ("1m", Some(60_000)),
            ("1h30m", Some(5_400_000)),
            ("500ms", Some(500)),
            ("15m", Some(900_000)),
            ("0", Some(0)),
            ("", None),
            ("m", None),
            ("10", None),
            ("5x", None),
        ];
        for (text, millis) in cases {
            assert_eq!(parse_duration(text), millis.map(Duration::from_millis), "{text:?}");
        }
        for text in ["5s", "1m30s", "250ms", "2h", "1m0s5ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn shortening_changes_only_the_longer_for_durations() {
        let lab = RuleFile::lab();
        let before = lab.alerts().unwrap();
        let short = lab.with_max_for(Duration::from_secs(5)).unwrap();
        let after = short.alerts().unwrap();
        assert_eq!(before.len(), after.len());
        assert!(before.iter().any(|a| a.for_ > Duration::from_secs(5)), "the lab's rules wait longer than 5 s");
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.alert, b.alert);
            assert_eq!(a.expr, b.expr, "{}: the expression is untouched", a.alert);
            assert_eq!(a.for_, b.for_.min(Duration::from_secs(5)), "{}", a.alert);
        }
    }

    #[test]
    fn both_rule_files_declare_alerts() {
        let names = |file: RuleFile| file.alerts().unwrap().into_iter().map(|a| a.alert).collect::<Vec<_>>();
        let lab = names(RuleFile::lab());
        assert!(lab.contains(&"KubePodCrashLooping".to_string()) && lab.contains(&"KubeNodeNotReady".to_string()));
        let medic = names(RuleFile::medic());
        for alert in ["MedicContainerOOMKilled", "MedicErrorBudgetBurn", "MedicLatencyBudgetBurn"] {
            assert!(medic.contains(&alert.to_string()), "{alert} in {medic:?}");
        }
    }

    #[test]
    fn a_file_without_groups_is_refused_with_its_name() {
        let error = RuleFile::new("broken.yml", "rules: []").with_max_for(Duration::from_secs(1)).unwrap_err();
        assert!(error.to_string().contains("broken.yml") && error.to_string().contains("groups"), "{error}");
        let error =
            RuleFile::new("bad.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: soon\n")
                .alerts()
                .unwrap_err();
        assert!(error.to_string().contains("alert A") && error.to_string().contains("soon"), "{error}");
    }
}
