//! Kubernetes resource quantities (`500m`, `1.5`, `128Mi`, `1G`, `2e3`) as the scheduler and kubelet
//! read them.

/// The value of a quantity in its base unit (cores for CPU, bytes for memory), or `None` when the text
/// is not a quantity.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        "Ei" => 1024.0f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => 10f64.powi(exponent[1..].parse().ok()?),
        _ => return None,
    };
    let value = number * multiplier;
    value.is_finite().then_some(value)
}

/// CPU in millicores, rounded up as the API server rounds sub-milli values.
pub fn cpu_millis(text: &str) -> Option<u64> {
    parse(text).filter(|v| *v >= 0.0).map(|cores| (cores * 1000.0 - 1e-9).ceil().max(0.0) as u64)
}

/// Memory (or any byte quantity) in bytes, rounded up.
pub fn bytes(text: &str) -> Option<u64> {
    parse(text).filter(|v| *v >= 0.0).map(|b| (b - 1e-6).ceil().max(0.0) as u64)
}

/// Formats bytes the way kubectl and the kubelet print capacities: the largest binary suffix that
/// divides evenly (`16Gi`, `3900Mi`, `1536Ki`).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
    for (suffix, unit) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// Formats millicores as Kubernetes does: whole cores without a suffix, otherwise `m`.
pub fn format_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) { (millis / 1000).to_string() } else { format!("{millis}m") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_the_api_server() {
        let cases: &[(&str, Option<u64>, Option<u64>)] = &[
            ("500m", Some(500), Some(1)),
            ("1", Some(1000), Some(1)),
            ("0.25", Some(250), Some(1)),
            ("2", Some(2000), Some(2)),
            ("128Mi", None, Some(134_217_728)),
            ("1Gi", None, Some(1_073_741_824)),
            ("1G", None, Some(1_000_000_000)),
            ("512k", None, Some(512_000)),
            ("1e3", Some(1_000_000), Some(1000)),
            ("100u", Some(1), Some(1)),
        ];
        for (text, millis, bytes_expected) in cases {
            if let Some(m) = millis {
                assert_eq!(cpu_millis(text), Some(*m), "cpu {text}");
            }
            assert_eq!(bytes(text), *bytes_expected, "bytes {text}");
        }
        assert_eq!(parse("lots"), None);
        assert_eq!(parse("12Xi"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn formatting_matches_kubectl() {
        assert_eq!(format_bytes(16 << 30), "16Gi");
        assert_eq!(format_bytes(3900 << 20), "3900Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_cpu(4000), "4");
        assert_eq!(format_cpu(3920), "3920m");
    }
}
