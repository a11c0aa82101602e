//! Condition operators of preconditions and `deny` (Kyverno's pkg/engine/variables/operator), on
//! substituted keys and values. Numbers are Go float64 values; strings may be durations, quantities,
//! semantic versions or wildcard patterns depending on the operator.
use crate::gofmt::sprint;
use crate::pattern::scalar::{self, Op, parse_go_float};
use crate::{duration, quantity::Quantity, wildcard};
use serde_json::Value;
use std::cmp::Ordering;

/// A condition operator, parsed case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    AnyIn,
    AllIn,
    AnyNotIn,
    AllNotIn,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
    DurationGreaterThan,
    DurationGreaterThanOrEquals,
    DurationLessThan,
    DurationLessThanOrEquals,
}

impl Operator {
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s.to_ascii_lowercase().as_str() {
            "equal" | "equals" => Operator::Equals,
            "notequal" | "notequals" => Operator::NotEquals,
            "in" => Operator::In,
            "notin" => Operator::NotIn,
            "anyin" => Operator::AnyIn,
            "allin" => Operator::AllIn,
            "anynotin" => Operator::AnyNotIn,
            "allnotin" => Operator::AllNotIn,
            "greaterthan" => Operator::GreaterThan,
            "greaterthanorequals" => Operator::GreaterThanOrEquals,
            "lessthan" => Operator::LessThan,
            "lessthanorequals" => Operator::LessThanOrEquals,
            "durationgreaterthan" => Operator::DurationGreaterThan,
            "durationgreaterthanorequals" => Operator::DurationGreaterThanOrEquals,
            "durationlessthan" => Operator::DurationLessThan,
            "durationlessthanorequals" => Operator::DurationLessThanOrEquals,
            _ => return None,
        })
    }
}

/// Evaluates `key <operator> value`.
pub fn evaluate(op: Operator, key: &Value, value: &Value) -> bool {
    match op {
        Operator::Equals => equal(key, value),
        Operator::NotEquals => not_equal(key, value),
        Operator::In => in_legacy(key, value, false),
        Operator::NotIn => in_legacy(key, value, true),
        Operator::AnyIn => set_op(key, value, SetOp::Any),
        Operator::AllIn => set_op(key, value, SetOp::All),
        Operator::AnyNotIn => set_op(key, value, SetOp::AnyNot),
        Operator::AllNotIn => set_op(key, value, SetOp::AllNot),
        Operator::GreaterThan | Operator::DurationGreaterThan => numeric(key, value, |o| o == Ordering::Greater),
        Operator::GreaterThanOrEquals | Operator::DurationGreaterThanOrEquals => {
            numeric(key, value, |o| o != Ordering::Less)
        }
        Operator::LessThan | Operator::DurationLessThan => numeric(key, value, |o| o == Ordering::Less),
        Operator::LessThanOrEquals | Operator::DurationLessThanOrEquals => {
            numeric(key, value, |o| o != Ordering::Greater)
        }
    }
}

/// Kyverno's `parseDuration(key, value)`: at least one side must be a duration string (other than "0"),
/// the other a duration or a number of seconds.
fn durations(key: &Value, value: &Value) -> Option<(i64, i64)> {
    let as_duration = |v: &Value| match v {
        Value::String(s) if s != "0" => duration::parse(s),
        _ => None,
    };
    let (kd, vd) = (as_duration(key), as_duration(value));
    if kd.is_none() && vd.is_none() {
        return None;
    }
    let seconds = |v: &Value| v.as_f64().filter(|_| v.is_number()).map(|f| (f as i64).saturating_mul(1_000_000_000));
    Some((kd.or_else(|| seconds(key))?, vd.or_else(|| seconds(value))?))
}

fn json_deep_equal(a: &Value, b: &Value) -> bool {
    crate::jmespath::json_eq(a, b)
}

fn equal(key: &Value, value: &Value) -> bool {
    match key {
        Value::Bool(k) => value.as_bool() == Some(*k),
        Value::Number(k) => {
            let k = k.as_f64().unwrap_or(f64::NAN);
            match value {
                Value::Number(v) => v.as_f64() == Some(k),
                Value::String(s) => parse_go_float(s) == Some(k),
                _ => false,
            }
        }
        Value::String(k) => {
            if let Some((a, b)) = durations(key, value) {
                return a / 1_000 == b / 1_000 && a == b;
            }
            if let Some(kq) = Quantity::parse(k)
                && let Value::String(v) = value
            {
                return Quantity::parse(v).is_some_and(|vq| vq == kq);
            }
            match value {
                Value::String(v) => wildcard::matches(v, k),
                _ => false,
            }
        }
        Value::Object(_) => value.is_object() && json_deep_equal(key, value),
        Value::Array(_) => value.is_array() && json_deep_equal(key, value),
        Value::Null => false,
    }
}

/// NotEquals is the negation of Equals (a key that cannot be compared is "not equal").
fn not_equal(key: &Value, value: &Value) -> bool {
    !equal(key, value)
}

/// The deprecated `In` / `NotIn`.
fn in_legacy(key: &Value, value: &Value, negate: bool) -> bool {
    match key {
        Value::String(_) | Value::Number(_) => {
            let k = sprint(key);
            let found = match value {
                Value::Array(items) => Some(items.iter().any(|v| wildcard::matches(&k, &sprint(v)))),
                Value::String(v) => {
                    if wildcard::matches(v, &k) {
                        Some(true)
                    } else {
                        serde_json::from_str::<Vec<String>>(v).ok().map(|arr| arr.contains(&k))
                    }
                }
                _ => None,
            };
            match found {
                Some(f) => f != negate,
                None => false,
            }
        }
        Value::Array(items) => {
            let Some(keys) = items.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>() else {
                return false;
            };
            let set: Option<Vec<String>> = match value {
                Value::Array(vs) => vs.iter().map(|v| v.as_str().map(str::to_string)).collect(),
                Value::String(v) => {
                    if keys.len() == 1 && keys[0] == *v {
                        return !negate;
                    }
                    serde_json::from_str::<Vec<String>>(v).ok()
                }
                _ => None,
            };
            match set {
                None => false,
                Some(set) if negate => keys.iter().any(|k| !set.contains(k)),
                Some(set) => keys.iter().all(|k| set.contains(k)),
            }
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Any,
    All,
    AnyNot,
    AllNot,
}

fn matches_either(a: &str, b: &str) -> bool {
    wildcard::matches(a, b) || wildcard::matches(b, a)
}

/// Whether `key` is in `value` for the set operators: a list, a range `a-b`, a JSON array or one string.
fn key_in(key: &str, value: &Value) -> Option<bool> {
    match value {
        Value::Array(items) => Some(items.iter().any(|v| matches_either(&sprint(v), key))),
        Value::String(v) => {
            if wildcard::matches(v, key) {
                return Some(true);
            }
            if scalar::operator_of(v) == Op::InRange {
                return Some(scalar::validate(&Value::String(key.to_string()), value));
            }
            match parse_array(v) {
                Ok(Some(arr)) => Some(arr.iter().any(|a| a == key)),
                Ok(None) => Some(v == key),
                Err(()) => None,
            }
        }
        _ => None,
    }
}

/// A JSON array of strings in a string value: `Ok(None)` if the text is not JSON at all.
fn parse_array(v: &str) -> Result<Option<Vec<String>>, ()> {
    match serde_json::from_str::<Value>(v) {
        Err(_) => Ok(None),
        Ok(_) => serde_json::from_str::<Vec<String>>(v).map(Some).map_err(|_| ()),
    }
}

fn set_op(key: &Value, value: &Value, op: SetOp) -> bool {
    let keys: Vec<String> = match key {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            let k = sprint(key);
            return match key_in(&k, value) {
                None => false,
                Some(found) => match op {
                    SetOp::Any | SetOp::All => found,
                    SetOp::AnyNot | SetOp::AllNot => !found,
                },
            };
        }
        Value::Array(items) => items.iter().map(sprint).collect(),
        _ => return false,
    };
    let values: Vec<String> = match value {
        Value::Array(items) => items.iter().map(sprint).collect(),
        Value::String(v) => {
            if keys.len() == 1 && keys[0] == *v {
                return matches!(op, SetOp::Any | SetOp::All);
            }
            if scalar::operator_of(v) == Op::InRange {
                let in_range = |k: &String| scalar::validate(&Value::String(k.clone()), value);
                return match op {
                    SetOp::Any => keys.iter().any(in_range),
                    SetOp::All => keys.iter().all(in_range),
                    SetOp::AnyNot => keys.iter().any(|k| !in_range(k)),
                    SetOp::AllNot => keys.iter().all(|k| !in_range(k)),
                };
            }
            match parse_array(v) {
                Ok(Some(arr)) => arr,
                Ok(None) => vec![v.clone()],
                Err(()) => return false,
            }
        }
        _ => return false,
    };
    let found = |k: &String| values.iter().any(|v| matches_either(k, v));
    match op {
        SetOp::Any => keys.iter().any(found),
        SetOp::All => keys.iter().all(found),
        SetOp::AnyNot => keys.iter().any(|k| !found(k)),
        SetOp::AllNot => keys.iter().all(|k| !found(k)),
    }
}

fn semver_of(s: &str) -> Option<semver::Version> {
    let t = s.strip_prefix('v').unwrap_or(s);
    semver::Version::parse(t).ok()
}

/// GreaterThan and friends: durations, then numbers, then quantities, then semantic versions.
fn numeric(key: &Value, value: &Value, accept: impl Fn(Ordering) -> bool) -> bool {
    if let Some((a, b)) = durations(key, value) {
        return accept(a.cmp(&b));
    }
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_go_float(s),
        _ => None,
    };
    match key {
        Value::Number(_) => match number(value) {
            Some(v) => number(key).and_then(|k| k.partial_cmp(&v)).is_some_and(&accept),
            None => false,
        },
        Value::String(k) => {
            if let Some(kf) = parse_go_float(k) {
                return number(value).and_then(|v| kf.partial_cmp(&v)).is_some_and(&accept);
            }
            if let Some(kq) = Quantity::parse(k) {
                return match value {
                    Value::String(v) => Quantity::parse(v).is_some_and(|vq| accept(kq.cmp(&vq))),
                    _ => false,
                };
            }
            if let (Some(kv), Value::String(v)) = (semver_of(k), value) {
                return semver_of(v).is_some_and(|vv| accept(kv.cmp_precedence(&vv)));
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn operators_table() {
        use Operator::*;
        let cases: Vec<(Operator, Value, Value, bool)> = vec![
            (Equals, json!("a"), json!("a"), true),
            (Equals, json!("nginx:1"), json!("nginx:*"), true),
            (Equals, json!("nginx:*"), json!("nginx:1"), false),
            (Equals, json!(3), json!(3.0), true),
            (Equals, json!(3), json!("3"), true),
            (Equals, json!("1Gi"), json!("1024Mi"), true),
            (Equals, json!("1h"), json!("60m"), true),
            (Equals, json!("3600"), json!(3600), false),
            (Equals, json!("1h"), json!(3600), true),
            (Equals, json!(true), json!(true), true),
            (Equals, json!(true), json!("true"), false),
            (Equals, json!({"a": 1}), json!({"a": 1.0}), true),
            (Equals, json!([1, 2]), json!([1, 2]), true),
            (Equals, json!(null), json!(null), false),
            (NotEquals, json!("a"), json!("b"), true),
            (NotEquals, json!("a"), json!("a*"), false),
            (NotEquals, json!(null), json!("x"), true),
            (NotEquals, json!("300Mi"), json!(""), true),
            (NotEquals, json!("x"), json!(1), true),
            (NotEquals, json!(2), json!("x"), true),
            (In, json!("a"), json!(["a", "b"]), true),
            (In, json!("c"), json!(["a", "b"]), false),
            (In, json!(["a", "b"]), json!(["a", "b", "c"]), true),
            (In, json!(["a", "x"]), json!(["a", "b"]), false),
            (NotIn, json!("c"), json!(["a", "b"]), true),
            (NotIn, json!(["a", "x"]), json!(["a", "b"]), true),
            (AnyIn, json!(["a", "x"]), json!(["a", "b"]), true),
            (AnyIn, json!(["x"]), json!(["a", "b"]), false),
            (AnyIn, json!("kube-*"), json!(["kube-system"]), true),
            (AnyIn, json!("kube-system"), json!(["kube-*"]), true),
            (AnyIn, json!(5), json!("1-10"), true),
            (AnyIn, json!(["5", "20"]), json!("1-10"), true),
            (AnyIn, json!("CREATE"), json!("[\"CREATE\", \"UPDATE\"]"), true),
            (AllIn, json!(["a", "b"]), json!(["a", "b", "c"]), true),
            (AllIn, json!(["a", "x"]), json!(["a", "b"]), false),
            (AnyNotIn, json!(["a", "x"]), json!(["a", "b"]), true),
            (AnyNotIn, json!(["a"]), json!(["a", "b"]), false),
            (AnyNotIn, json!(["15", "5"]), json!("1-10"), true),
            (AllNotIn, json!(["x", "y"]), json!(["a", "b"]), true),
            (AllNotIn, json!(["a", "y"]), json!(["a", "b"]), false),
            (GreaterThan, json!(3), json!(2), true),
            (GreaterThan, json!("3"), json!(2), true),
            (GreaterThan, json!("2Gi"), json!("1Gi"), true),
            (GreaterThan, json!("2h"), json!("90m"), true),
            (GreaterThan, json!("2h"), json!(3600), true),
            (GreaterThan, json!("1.25.0"), json!("1.24.3"), true),
            (GreaterThanOrEquals, json!(2), json!(2), true),
            (LessThan, json!(1), json!(2), true),
            (LessThanOrEquals, json!("500m"), json!("1"), true),
            (LessThan, json!("abc"), json!(2), false),
            (DurationLessThan, json!("30s"), json!("1m"), true),
        ];
        for (op, key, value, want) in cases {
            assert_eq!(evaluate(op, &key, &value), want, "{op:?} {key} {value}");
        }
        assert_eq!(Operator::parse("anYin"), Some(Operator::AnyIn));
        assert_eq!(Operator::parse("Bogus"), None);
    }

    proptest! {
        #[test]
        fn numeric_operators_agree_with_arithmetic(a in -1e6f64..1e6, b in -1e6f64..1e6) {
            prop_assert_eq!(evaluate(Operator::GreaterThan, &json!(a), &json!(b)), a > b);
            prop_assert_eq!(evaluate(Operator::LessThanOrEquals, &json!(a), &json!(b)), a <= b);
            prop_assert_eq!(evaluate(Operator::Equals, &json!(a), &json!(b)), a == b);
            prop_assert_eq!(evaluate(Operator::NotEquals, &json!(a), &json!(b)), a != b);
        }

        #[test]
        fn set_operators_agree_with_set_semantics(
            keys in prop::collection::vec("[a-d]", 1..4),
            values in prop::collection::vec("[a-d]", 0..4),
        ) {
            let (k, v) = (json!(keys), json!(values));
            let found = |key: &String| values.contains(key);
            prop_assert_eq!(evaluate(Operator::AnyIn, &k, &v), keys.iter().any(found));
            prop_assert_eq!(evaluate(Operator::AllIn, &k, &v), keys.iter().all(found));
            prop_assert_eq!(evaluate(Operator::AnyNotIn, &k, &v), keys.iter().any(|x| !found(x)));
            prop_assert_eq!(evaluate(Operator::AllNotIn, &k, &v), keys.iter().all(|x| !found(x)));
        }

        #[test]
        fn any_in_and_any_not_in_partition_single_keys(k in "[a-c]{1,2}", vs in prop::collection::vec("[a-c]{1,2}", 0..4)) {
            let key = json!(k);
            let value = json!(vs);
            prop_assert_ne!(evaluate(Operator::AnyIn, &key, &value), evaluate(Operator::AnyNotIn, &key, &value));
            prop_assert_eq!(evaluate(Operator::AnyIn, &key, &value), vs.contains(&k));
        }
    }
}
