//! Scalar formats playbooks use: durations (`90s`, `5m`, `1m30s`) and Kubernetes resource quantities
//! (`512Mi`, `250m`, `1.5`).
use std::time::Duration;

/// Parse a duration written as a sequence of `<number><unit>` with units `ms`, `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {text:?}: expected e.g. 30s, 5m, 1m30s, 2h or 500ms");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
}

const SUFFIXES: [&str; 13] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T"];

/// Whether `text` is a Kubernetes resource quantity (`<signed number><suffix>`, suffix binary `Ki..Ei`,
/// decimal `n u m k M G T P E`, or an exponent `e3`/`E3`).
pub fn is_quantity(text: &str) -> bool {
    let s = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let valid_number = !number.is_empty()
        && number != "."
        && number.matches('.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    if !valid_number {
        return false;
    }
    if suffix.is_empty() || SUFFIXES.contains(&suffix) || suffix == "P" || suffix == "E" {
        return true;
    }
    // A decimal exponent: e3, E-2.
    let exponent = suffix.strip_prefix(['e', 'E']).map(|e| e.strip_prefix(['+', '-']).unwrap_or(e));
    exponent.is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()))
}

/// Seconds, rounded up, as a plan records them.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("30s", Some(30_000)),
            ("5m", Some(300_000)),
            ("1m30s", Some(90_000)),
            ("2h", Some(7_200_000)),
            ("500ms", Some(500)),
            ("0s", Some(0)),
            ("", None),
            ("5", None),
            ("5 minutes", None),
            ("m5", None),
            ("1.5m", None),
            ("-3s", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).ok().map(|d| d.as_millis() as u64), expected, "{text:?}");
        }
        assert!(parse_duration("5 minutes").unwrap_err().contains("bad duration \"5 minutes\""));
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }

    #[test]
    fn quantities() {
        for ok in ["512Mi", "1Gi", "250m", "1", "1.5", "0.5Gi", "100M", "2e3", "1E6", "+1k", ".5"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Mi", "512MB", "1.2.3", "abc", "12 Mi", "1e", ".", "512mi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
