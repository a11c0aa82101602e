//! The Prometheus text exposition format (version 0.0.4): one `# HELP` and `# TYPE` per family, then
//! its samples, families in a stable order.
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

#[derive(Debug)]
struct Family {
    help: &'static str,
    kind: MetricType,
    samples: String,
}

/// Collects samples by family and writes them out grouped.
#[derive(Debug, Default)]
pub struct Exposition {
    families: BTreeMap<&'static str, Family>,
}

impl Exposition {
    /// Declare a family (idempotent); samples of undeclared families are refused in debug builds.
    pub fn family(&mut self, name: &'static str, kind: MetricType, help: &'static str) {
        self.families.entry(name).or_insert(Family { help, kind, samples: String::new() });
    }

    /// Add a sample of `family`; `suffix` is `_bucket`, `_sum` or `_count` for histograms, else "".
    pub fn sample(&mut self, family: &'static str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let Some(entry) = self.families.get_mut(family) else {
            debug_assert!(false, "undeclared family {family}");
            return;
        };
        let out = &mut entry.samples;
        out.push_str(family);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str("=\"");
                escape(value, out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(value, out);
        out.push('\n');
    }

    pub fn render(&self) -> String {
        let size: usize = self.families.values().map(|f| f.samples.len() + 100).sum();
        let mut out = String::with_capacity(size);
        for (name, family) in &self.families {
            if family.samples.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
            out.push_str(&family.samples);
        }
        out
    }
}

fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_value(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_with_help_and_type() {
        let mut e = Exposition::default();
        e.family("b_total", MetricType::Counter, "B things.");
        e.family("a_bytes", MetricType::Gauge, "A bytes.");
        e.sample("b_total", "", &[("pod", "x\"y")], 3.0);
        e.sample("a_bytes", "", &[], 1.5);
        e.sample("b_total", "", &[("pod", "z")], 1e20);
        assert_eq!(
            e.render(),
            "# HELP a_bytes A bytes.\n# TYPE a_bytes gauge\na_bytes 1.5\n\
             # HELP b_total B things.\n# TYPE b_total counter\nb_total{pod=\"x\\\"y\"} 3\nb_total{pod=\"z\"} 100000000000000000000\n"
        );
    }
}
