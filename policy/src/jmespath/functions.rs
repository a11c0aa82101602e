//! JMESPath's built-in functions, and the dispatch to Kyverno's custom ones.
use super::{JpError, JpResult, eval, json_eq, runtime};
use crate::gofmt;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

/// A function argument: a value, or an expression reference (`&expr`).
#[derive(Debug, Clone)]
pub enum Arg {
    Value(Value),
    Expref(Arc<super::Expr>),
}

const BUILTINS: &[&str] = &[
    "abs",
    "avg",
    "ceil",
    "contains",
    "ends_with",
    "floor",
    "join",
    "keys",
    "length",
    "map",
    "max",
    "max_by",
    "merge",
    "min",
    "min_by",
    "not_null",
    "reverse",
    "sort",
    "sort_by",
    "starts_with",
    "sum",
    "to_array",
    "to_number",
    "to_string",
    "type",
    "values",
];

/// Whether `name` is a known function (built-in or Kyverno's).
pub fn exists(name: &str) -> bool {
    BUILTINS.contains(&name) || super::kyverno::exists(name)
}

pub(crate) fn arity(name: &str, args: &[Arg], min: usize, max: Option<usize>) -> JpResult<()> {
    if args.len() < min || max.is_some_and(|m| args.len() > m) {
        let expected = match max {
            Some(m) if m == min => format!("{min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        return runtime(format!("invalid arity for {name}(): expected {expected} arguments, got {}", args.len()));
    }
    Ok(())
}

pub(crate) fn value<'a>(name: &str, args: &'a [Arg], i: usize) -> JpResult<&'a Value> {
    match args.get(i) {
        Some(Arg::Value(v)) => Ok(v),
        Some(Arg::Expref(_)) => runtime(format!("invalid type for {name}() argument {}: expression reference", i + 1)),
        None => runtime(format!("missing argument {} for {name}()", i + 1)),
    }
}

pub(crate) fn type_error<T>(name: &str, i: usize, expected: &str, got: &Value) -> JpResult<T> {
    runtime(format!("invalid type for {name}() argument {}: expected {expected}, got {}", i + 1, type_name(got)))
}

pub(crate) fn string<'a>(name: &str, args: &'a [Arg], i: usize) -> JpResult<&'a str> {
    let v = value(name, args, i)?;
    v.as_str().map_or_else(|| type_error(name, i, "string", v), Ok)
}

pub(crate) fn number(name: &str, args: &[Arg], i: usize) -> JpResult<f64> {
    let v = value(name, args, i)?;
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        _ => type_error(name, i, "number", v),
    }
}

pub(crate) fn array<'a>(name: &str, args: &'a [Arg], i: usize) -> JpResult<&'a Vec<Value>> {
    let v = value(name, args, i)?;
    v.as_array().map_or_else(|| type_error(name, i, "array", v), Ok)
}

pub(crate) fn object<'a>(name: &str, args: &'a [Arg], i: usize) -> JpResult<&'a Map<String, Value>> {
    let v = value(name, args, i)?;
    v.as_object().map_or_else(|| type_error(name, i, "object", v), Ok)
}

fn expref<'a>(name: &str, args: &'a [Arg], i: usize) -> JpResult<&'a super::Expr> {
    match args.get(i) {
        Some(Arg::Expref(e)) => Ok(e),
        _ => runtime(format!("invalid type for {name}() argument {}: expected expression reference", i + 1)),
    }
}

/// The JMESPath type name of a value.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn num(f: f64) -> Value {
    gofmt::number_value(f)
}

fn apply_expref(e: &super::Expr, v: &Value) -> JpResult<Value> {
    match eval(e, Cow::Borrowed(v)) {
        Ok(r) => Ok(r.into_owned()),
        Err(JpError::NotFound(_)) => Ok(Value::Null),
        Err(other) => Err(other),
    }
}

fn ordering(name: &str, a: &Value, b: &Value) -> JpResult<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            Ok(x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal))
        }
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => runtime(format!("{name}(): values must all be numbers or all be strings")),
    }
}

fn sorted(name: &str, mut items: Vec<(Value, Value)>) -> JpResult<Vec<Value>> {
    if let Some((first, _)) = items.first() {
        let kind = type_name(first);
        if kind != "number" && kind != "string" || items.iter().any(|(k, _)| type_name(k) != kind) {
            return runtime(format!("{name}(): values must all be numbers or all be strings"));
        }
    }
    let mut error = None;
    items.sort_by(|(a, _), (b, _)| {
        ordering(name, a, b).unwrap_or_else(|e| {
            error = Some(e);
            Ordering::Equal
        })
    });
    match error {
        Some(e) => Err(e),
        None => Ok(items.into_iter().map(|(_, v)| v).collect()),
    }
}

/// Calls function `name`.
pub fn call(name: &str, args: Vec<Arg>) -> JpResult<Value> {
    let a = &args;
    match name {
        "abs" => {
            arity(name, a, 1, Some(1))?;
            Ok(num(number(name, a, 0)?.abs()))
        }
        "avg" => {
            arity(name, a, 1, Some(1))?;
            let items = array(name, a, 0)?;
            if items.is_empty() {
                return Ok(Value::Null);
            }
            let mut total = 0.0;
            for (i, item) in items.iter().enumerate() {
                total += item.as_f64().map_or_else(|| type_error(name, i, "number", item), Ok)?;
            }
            Ok(num(total / items.len() as f64))
        }
        "ceil" => {
            arity(name, a, 1, Some(1))?;
            Ok(num(number(name, a, 0)?.ceil()))
        }
        "floor" => {
            arity(name, a, 1, Some(1))?;
            Ok(num(number(name, a, 0)?.floor()))
        }
        "contains" => {
            arity(name, a, 2, Some(2))?;
            let subject = value(name, a, 0)?;
            let search = value(name, a, 1)?;
            match subject {
                Value::Array(items) => Ok(Value::Bool(items.iter().any(|i| json_eq(i, search)))),
                Value::String(s) => Ok(Value::Bool(search.as_str().is_some_and(|n| s.contains(n)))),
                other => type_error(name, 0, "array or string", other),
            }
        }
        "ends_with" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::Bool(string(name, a, 0)?.ends_with(string(name, a, 1)?)))
        }
        "starts_with" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::Bool(string(name, a, 0)?.starts_with(string(name, a, 1)?)))
        }
        "join" => {
            arity(name, a, 2, Some(2))?;
            let sep = string(name, a, 0)?;
            let items = array(name, a, 1)?;
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                parts.push(item.as_str().map_or_else(|| type_error(name, 1, "array of strings", item), Ok)?);
            }
            Ok(Value::String(parts.join(sep)))
        }
        "keys" => {
            arity(name, a, 1, Some(1))?;
            // Key order, whatever order serde_json's map keeps (its `preserve_order` feature may be on).
            let mut keys: Vec<Value> = object(name, a, 0)?.keys().map(|k| Value::String(k.clone())).collect();
            keys.sort_unstable_by(|x, y| x.as_str().cmp(&y.as_str()));
            Ok(Value::Array(keys))
        }
        "values" => {
            arity(name, a, 1, Some(1))?;
            let mut entries: Vec<_> = object(name, a, 0)?.iter().collect();
            entries.sort_unstable_by(|x, y| x.0.cmp(y.0));
            Ok(Value::Array(entries.into_iter().map(|(_, v)| v.clone()).collect()))
        }
        "length" => {
            arity(name, a, 1, Some(1))?;
            match value(name, a, 0)? {
                Value::String(s) => Ok(num(s.chars().count() as f64)),
                Value::Array(items) => Ok(num(items.len() as f64)),
                Value::Object(m) => Ok(num(m.len() as f64)),
                other => type_error(name, 0, "string, array or object", other),
            }
        }
        "map" => {
            arity(name, a, 2, Some(2))?;
            let e = expref(name, a, 0)?;
            let items = array(name, a, 1)?;
            items.iter().map(|item| apply_expref(e, item)).collect::<JpResult<Vec<_>>>().map(Value::Array)
        }
        "max" | "min" => {
            arity(name, a, 1, Some(1))?;
            let items = array(name, a, 0)?;
            let keyed: Vec<(Value, Value)> = items.iter().map(|v| (v.clone(), v.clone())).collect();
            let sorted = sorted(name, keyed)?;
            Ok(if name == "max" { sorted.last() } else { sorted.first() }.cloned().unwrap_or(Value::Null))
        }
        "max_by" | "min_by" | "sort_by" => {
            arity(name, a, 2, Some(2))?;
            let items = array(name, a, 0)?;
            let e = expref(name, a, 1)?;
            let keyed = items.iter().map(|v| Ok((apply_expref(e, v)?, v.clone()))).collect::<JpResult<Vec<_>>>()?;
            let sorted = sorted(name, keyed)?;
            Ok(match name {
                "max_by" => sorted.last().cloned().unwrap_or(Value::Null),
                "min_by" => sorted.first().cloned().unwrap_or(Value::Null),
                _ => Value::Array(sorted),
            })
        }
        "sort" => {
            arity(name, a, 1, Some(1))?;
            let items = array(name, a, 0)?;
            Ok(Value::Array(sorted(name, items.iter().map(|v| (v.clone(), v.clone())).collect())?))
        }
        "merge" => {
            arity(name, a, 1, None)?;
            let mut out = Map::new();
            for i in 0..a.len() {
                for (k, v) in object(name, a, i)? {
                    out.insert(k.clone(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        "not_null" => {
            arity(name, a, 1, None)?;
            for i in 0..a.len() {
                let v = value(name, a, i)?;
                if !v.is_null() {
                    return Ok(v.clone());
                }
            }
            Ok(Value::Null)
        }
        "reverse" => {
            arity(name, a, 1, Some(1))?;
            match value(name, a, 0)? {
                Value::String(s) => Ok(Value::String(s.chars().rev().collect())),
                Value::Array(items) => Ok(Value::Array(items.iter().rev().cloned().collect())),
                other => type_error(name, 0, "string or array", other),
            }
        }
        "to_array" => {
            arity(name, a, 1, Some(1))?;
            Ok(match value(name, a, 0)? {
                Value::Array(items) => Value::Array(items.clone()),
                other => Value::Array(vec![other.clone()]),
            })
        }
        "to_number" => {
            arity(name, a, 1, Some(1))?;
            Ok(match value(name, a, 0)? {
                Value::Number(n) => Value::Number(n.clone()),
                Value::String(s) => crate::pattern::scalar::parse_go_float(s).map(num).unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }
        "to_string" => {
            arity(name, a, 1, Some(1))?;
            Ok(match value(name, a, 0)? {
                Value::String(s) => Value::String(s.clone()),
                other => Value::String(gofmt::json_marshal(other)),
            })
        }
        "type" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(type_name(value(name, a, 0)?).into()))
        }
        "sum" => super::kyverno::sum(a),
        other => super::kyverno::call(other, a),
    }
}
