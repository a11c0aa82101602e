//! Go durations (`time.ParseDuration`, `Duration.String`), which Kyverno compares in patterns and conditions.

/// Parses a Go duration such as `1h30m`, `-1.5s` or `0`, returning nanoseconds.
pub fn parse(s: &str) -> Option<i64> {
    let mut rest = s;
    let mut negative = false;
    if let Some(c) = rest.chars().next()
        && (c == '-' || c == '+')
    {
        negative = c == '-';
        rest = &rest[1..];
    }
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let whole: u128 = if int_len > 0 { rest[..int_len].parse().ok()? } else { 0 };
        if whole > (1u128 << 63) {
            return None;
        }
        rest = &rest[int_len..];
        let mut frac: u128 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if rest.starts_with('.') {
            rest = &rest[1..];
            let frac_len = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
            post = frac_len > 0;
            for c in rest[..frac_len].bytes() {
                if frac > (1u128 << 63) / 10 {
                    continue; // further digits cannot change the result
                }
                frac = frac * 10 + u128::from(c - b'0');
                scale *= 10.0;
            }
            rest = &rest[frac_len..];
        }
        if int_len == 0 && !post {
            return None;
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return None;
        }
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let mut v = whole.checked_mul(unit)?;
        if v > 1u128 << 63 {
            return None;
        }
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u128;
        }
        total += v;
        if total > 1u128 << 63 {
            return None;
        }
    }
    if negative {
        Some(-(total as i128) as i64)
    } else if total > i64::MAX as u128 {
        None
    } else {
        Some(total as i64)
    }
}

/// Formats nanoseconds as Go's `Duration.String()` does, e.g. `1h30m0s`, `1.5s`, `0s`.
pub fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: use the largest unit that keeps the value >= 1.
        let (unit, div) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, div));
        out.push_str(unit);
    } else {
        let hours = u / 3_600_000_000_000;
        let minutes = (u / 60_000_000_000) % 60;
        let secs_nanos = u % 60_000_000_000;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if hours > 0 || minutes > 0 {
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&fraction(secs_nanos, 1_000_000_000));
        out.push('s');
    }
    if negative { format!("-{out}") } else { out }
}

fn fraction(v: u64, div: u64) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::{format, parse};
    use proptest::prelude::*;

    #[test]
    fn parses_go_durations() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1s", Some(1_000_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("1.5s", Some(1_500_000_000)),
            ("-2m", Some(-120_000_000_000)),
            (".5h", Some(1_800_000_000_000)),
            ("300ms", Some(300_000_000)),
            ("1µs", Some(1_000)),
            ("", None),
            ("1", None),
            ("s", None),
            ("1x", None),
            ("1.s", Some(1_000_000_000)),
            ("2562048h", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), *want, "{s:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(5_400_000_000_000), "1h30m0s");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(1_500_000), "1.5ms");
        assert_eq!(format(-60_000_000_000), "-1m0s");
        assert_eq!(format(0), "0s");
    }

    proptest! {
        #[test]
        fn format_and_parse_round_trip(n in -1_000_000_000_000_000i64..1_000_000_000_000_000) {
            prop_assert_eq!(parse(&format(n)), Some(n));
        }
    }
}
