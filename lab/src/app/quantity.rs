//! Kubernetes resource quantities (`100m`, `0.5`, `256Mi`, `1G`) as the topology and pod specs write them.

/// CPU in millicores: `"250m"` → 250, `"2"` → 2000, `"0.5"` → 500.
pub fn parse_cpu_millis(text: &str) -> Option<u64> {
    let value = parse(text)?;
    let millis = (value * 1000.0).round();
    (millis.is_finite() && millis >= 0.0).then_some(millis as u64)
}

/// Memory in bytes: `"256Mi"` → 268435456, `"1G"` → 1000000000, `"512"` → 512.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let value = parse(text)?.round();
    (value.is_finite() && value >= 0.0).then_some(value as u64)
}

/// A quantity as a plain number (`"1.5k"` → 1500.0). `None` when it is not a quantity.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number_part(number).map(|n| n * factor);
        }
    }
    if let Some(number) = text.strip_suffix('P') {
        return number_part(number).map(|n| n * 1e15);
    }
    if let Some(number) = text.strip_suffix('E') {
        // `1E` is an exabyte; `1e3` is scientific notation and falls through.
        return number_part(number).map(|n| n * 1e18);
    }
    number_part(text)
}

fn number_part(text: &str) -> Option<f64> {
    if text.is_empty() || text.starts_with('+') && text.len() == 1 {
        return None;
    }
    let valid = text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Bytes as the API server canonicalises a memory quantity written in binary units (`268435456` → `256Mi`).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Millicores as the API server canonicalises a CPU quantity (`2000` → `2`, `250` → `250m`).
pub fn format_cpu_millis(millis: u64) -> String {
    if millis.is_multiple_of(1000) { (millis / 1000).to_string() } else { format!("{millis}m") }
}

/// A duration as Go and Chaos Mesh write it: `"30s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"1.5h"`.
pub fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        let cases: [(&str, Option<u64>, Option<u64>); 9] = [
            ("100m", Some(100), Some(0)),
            ("2", Some(2000), Some(2)),
            ("0.5", Some(500), Some(1)),
            ("256Mi", None, Some(268_435_456)),
            ("1Gi", None, Some(1_073_741_824)),
            ("1G", None, Some(1_000_000_000)),
            ("1.5k", Some(1_500_000), Some(1500)),
            ("abc", None, None),
            ("", None, None),
        ];
        for (text, cpu, bytes) in cases {
            if let Some(cpu) = cpu {
                assert_eq!(parse_cpu_millis(text), Some(cpu), "cpu {text}");
            }
            assert_eq!(parse_bytes(text), bytes, "bytes {text}");
        }
        assert_eq!(parse_cpu_millis("-"), None);
        assert_eq!(parse("1e3"), Some(1000.0));
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_bytes(268_435_456), "256Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_cpu_millis(2000), "2");
        assert_eq!(format_cpu_millis(250), "250m");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("5x"), None);
    }
}
