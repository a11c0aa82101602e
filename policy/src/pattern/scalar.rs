//! Matching one resource value against one scalar pattern (Kyverno `pattern.Validate`): booleans, numbers,
//! null, and strings with `|` / `&`, the comparison operators, ranges, durations, quantities and wildcards.
use crate::{duration, gofmt, quantity::Quantity, wildcard};
use serde_json::Value;
use std::cmp::Ordering;

/// The operator at the start of a string pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal,
    MoreEqual,
    LessEqual,
    NotEqual,
    More,
    Less,
    InRange,
    NotInRange,
}

impl Op {
    fn prefix_len(self) -> usize {
        match self {
            Op::Equal | Op::InRange | Op::NotInRange => 0,
            Op::MoreEqual | Op::LessEqual => 2,
            Op::NotEqual | Op::More | Op::Less => 1,
        }
    }
}

/// Kyverno's `GetOperatorFromStringPattern`.
pub fn operator_of(pattern: &str) -> Op {
    if pattern.len() < 2 {
        return Op::Equal;
    }
    if pattern.starts_with(">=") {
        Op::MoreEqual
    } else if pattern.starts_with("<=") {
        Op::LessEqual
    } else if pattern.starts_with('>') {
        Op::More
    } else if pattern.starts_with('<') {
        Op::Less
    } else if pattern.starts_with('!') {
        Op::NotEqual
    } else if split_range(pattern, "!-").is_some() {
        Op::NotInRange
    } else if split_range(pattern, "-").is_some() {
        Op::InRange
    } else {
        Op::Equal
    }
}

/// Length of a range bound `[-+|]?\d+(\.\d+)?[A-Za-z]*` at the start of `s`.
fn bound_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    if matches!(s.first(), Some(b'-' | b'+' | b'|')) {
        i += 1;
    }
    let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    i += digits;
    if s.get(i) == Some(&b'.') {
        let frac = s[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac > 0 {
            i += 1 + frac;
        }
    }
    i += s[i..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
    Some(i)
}

/// Splits `a<sep>b` where both sides are range bounds.
pub fn split_range<'a>(pattern: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let b = pattern.as_bytes();
    let left = bound_len(b)?;
    if !pattern[left..].starts_with(sep) {
        return None;
    }
    let start = left + sep.len();
    let right = bound_len(&b[start..])?;
    if start + right != b.len() {
        return None;
    }
    Some((&pattern[..left], &pattern[start..]))
}

/// Kyverno's `pattern.Validate(value, pattern)` for any pattern value.
pub fn validate(value: &Value, pattern: &Value) -> bool {
    match pattern {
        Value::Bool(p) => value.as_bool() == Some(*p),
        Value::Number(n) => validate_float(value, n.as_f64().unwrap_or(f64::NAN)),
        Value::Null => validate_nil(value),
        Value::Object(_) => value.is_object(),
        Value::String(p) => validate_string_patterns(value, p),
        Value::Array(_) => false,
    }
}

/// Whether a JSON number stands for a Go float64 (as opposed to an int64 from a decoded resource).
pub fn is_go_float(n: &serde_json::Number) -> bool {
    n.is_f64()
}

fn validate_float(value: &Value, pattern: f64) -> bool {
    match value {
        Value::Number(n) if is_go_float(n) => n.as_f64() == Some(pattern),
        Value::Number(n) => {
            if pattern.trunc() != pattern {
                return false;
            }
            match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => (pattern as i64) == i && pattern.abs() < 9.3e18,
                (None, Some(u)) => pattern >= 0.0 && (pattern as u64) == u,
                _ => false,
            }
        }
        Value::String(s) => parse_go_float(s) == Some(pattern),
        _ => false,
    }
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms Kubernetes objects use.
pub fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

fn validate_nil(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Null => true,
        Value::Object(_) | Value::Array(_) => false,
    }
}

/// A string pattern: exact match, or `|`-separated alternatives of `&`-separated terms.
pub fn validate_string_patterns(value: &Value, pattern: &str) -> bool {
    if value.as_str() == Some(pattern) {
        return true;
    }
    pattern.split('|').any(|alternative| {
        alternative.trim_matches(' ').split('&').all(|term| validate_string_pattern(value, term.trim_matches(' ')))
    })
}

/// One term, e.g. `>=1Gi`, `!nginx*`, `1-10`.
pub fn validate_string_pattern(value: &Value, pattern: &str) -> bool {
    match operator_of(pattern) {
        Op::InRange => match split_range(pattern, "-") {
            Some((lo, hi)) => {
                validate_operand(value, lo.trim(), Op::MoreEqual) && validate_operand(value, hi.trim(), Op::LessEqual)
            }
            None => false,
        },
        Op::NotInRange => match split_range(pattern, "!-") {
            Some((lo, hi)) => {
                validate_operand(value, lo.trim(), Op::Less) || validate_operand(value, hi.trim(), Op::More)
            }
            None => false,
        },
        op => validate_operand(value, pattern[op.prefix_len()..].trim(), op),
    }
}

fn validate_operand(value: &Value, operand: &str, op: Op) -> bool {
    if let Some(result) = compare_duration(value, operand, op) {
        return result;
    }
    if let Some(result) = compare_quantity(value, operand, op) {
        return result;
    }
    compare_string(value, operand, op)
}

/// `convertNumberToString`: what the duration and quantity comparisons parse on the value side.
fn number_to_string(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::Null => Some("0".into()),
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) if is_go_float(n) => Some(gofmt::format_f6(n.as_f64().unwrap_or(0.0)).into()),
        Value::Number(n) => Some(n.to_string().into()),
        _ => None,
    }
}

fn apply(op: Op, ord: Ordering) -> Option<bool> {
    Some(match op {
        Op::Equal => ord == Ordering::Equal,
        Op::NotEqual => ord != Ordering::Equal,
        Op::More => ord == Ordering::Greater,
        Op::Less => ord == Ordering::Less,
        Op::MoreEqual => ord != Ordering::Less,
        Op::LessEqual => ord != Ordering::Greater,
        Op::InRange | Op::NotInRange => return None,
    })
}

fn compare_duration(value: &Value, operand: &str, op: Op) -> Option<bool> {
    let pattern = duration::parse(operand)?;
    let value = duration::parse(&number_to_string(value)?)?;
    apply(op, value.cmp(&pattern))
}

fn compare_quantity(value: &Value, operand: &str, op: Op) -> Option<bool> {
    let pattern = Quantity::parse(operand)?;
    let value = Quantity::parse(&number_to_string(value)?)?;
    apply(op, value.cmp(&pattern))
}

fn compare_string(value: &Value, operand: &str, op: Op) -> bool {
    if op != Op::Equal && op != Op::NotEqual {
        return false;
    }
    let text: std::borrow::Cow<'_, str> = match value {
        Value::String(s) => s.as_str().into(),
        Value::Number(n) if is_go_float(n) => gofmt::format_upper_e(n.as_f64().unwrap_or(0.0)).into(),
        Value::Number(n) => n.to_string().into(),
        Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
        _ => return false,
    };
    let matched = wildcard::matches(operand, &text);
    if op == Op::NotEqual { !matched } else { matched }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn operators_table() {
        let cases: &[(&str, Op)] = &[
            (">=1", Op::MoreEqual),
            ("<=1", Op::LessEqual),
            (">1", Op::More),
            ("<1", Op::Less),
            ("!x", Op::NotEqual),
            ("1-10", Op::InRange),
            ("1Gi-2Gi", Op::InRange),
            ("-5-5", Op::InRange),
            ("1!-10", Op::NotInRange),
            ("x", Op::Equal),
            ("!", Op::Equal),
            ("a-b", Op::Equal),
            ("1.5-2.5", Op::InRange),
        ];
        for (p, want) in cases {
            assert_eq!(operator_of(p), *want, "{p}");
        }
    }

    #[test]
    fn scalar_patterns_table() {
        let cases: &[(Value, Value, bool)] = &[
            (json!(true), json!(true), true),
            (json!("true"), json!(true), false),
            (json!(1), json!(1.0), true),
            (json!(1.5), json!(1.5), true),
            (json!("2"), json!(2), true),
            (json!(2), json!(2.5), false),
            (json!(null), json!(null), true),
            (json!(0), json!(null), true),
            (json!(""), json!(null), true),
            (json!(false), json!(null), true),
            (json!({}), json!(null), false),
            (json!({"a": 1}), json!({}), true),
            (json!("x"), json!({}), false),
            (json!("nginx:1.2"), json!("*:*"), true),
            (json!("nginx"), json!("*:*"), false),
            (json!("nginx:latest"), json!("!*:latest"), false),
            (json!("nginx:1"), json!("!*:latest"), true),
            (json!("nginx:latest"), json!("!*:latest & *:*"), false),
            (json!("a"), json!("b | a"), true),
            (json!("2Gi"), json!(">=1Gi"), true),
            (json!("512Mi"), json!(">=1Gi"), false),
            (json!("100m"), json!("<=1"), true),
            (json!(5), json!("1-10"), true),
            (json!(11), json!("1-10"), false),
            (json!(11), json!("1!-10"), true),
            (json!(5), json!("1!-10"), false),
            (json!("30s"), json!("<1m"), true),
            (json!("2h"), json!("<1m"), false),
            (json!(null), json!(">=0"), true),
            (json!(null), json!("!x"), false),
            (json!(true), json!("true"), true),
            (json!(80), json!("8*"), true),
            (json!(80.5), json!("8.05E+01"), true),
            (json!("abc"), json!(">a"), false),
            (json!(1), json!([1]), false),
        ];
        for (value, pattern, want) in cases {
            assert_eq!(validate(value, pattern), *want, "{value} vs {pattern}");
        }
    }

    proptest! {
        #[test]
        fn integer_ranges_agree_with_arithmetic(v in -1000i64..1000, lo in -1000i64..1000, span in 0i64..1000) {
            let hi = lo + span;
            let inside = validate(&json!(v), &json!(format!("{lo}-{hi}")));
            prop_assert_eq!(inside, lo <= v && v <= hi);
            let outside = validate(&json!(v), &json!(format!("{lo}!-{hi}")));
            prop_assert_eq!(outside, v < lo || v > hi);
        }

        #[test]
        fn comparison_operators_agree_with_arithmetic(v in -1000i64..1000, p in -1000i64..1000) {
            prop_assert_eq!(validate(&json!(v), &json!(format!(">{p}"))), v > p);
            prop_assert_eq!(validate(&json!(v), &json!(format!(">={p}"))), v >= p);
            prop_assert_eq!(validate(&json!(v), &json!(format!("<{p}"))), v < p);
            prop_assert_eq!(validate(&json!(v), &json!(format!("<={p}"))), v <= p);
            prop_assert_eq!(validate(&json!(v.to_string()), &json!(format!("!{p}"))), v != p);
        }

        #[test]
        fn alternatives_are_a_disjunction(a in "[a-z]{1,6}", b in "[a-z]{1,6}", v in "[a-z]{1,6}") {
            let either = validate(&json!(v), &json!(format!("{a} | {b}")));
            prop_assert_eq!(either, v == a || v == b);
        }

        #[test]
        fn quantities_in_memory_units_compare_by_bytes(mi in 1i64..4096, gi in 1i64..4) {
            let v = json!(format!("{mi}Mi"));
            prop_assert_eq!(validate(&v, &json!(format!("<={gi}Gi"))), mi <= gi * 1024);
        }
    }
}
