//! CEL values, converted from Kubernetes objects (JSON) and back.
use crate::quantity::Quantity;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Str(Arc<str>),
}

#[derive(Debug, Clone)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Arc<str>),
    Bytes(Arc<[u8]>),
    List(Arc<Vec<Val>>),
    Map(Arc<BTreeMap<Key, Val>>),
    Duration(i64),
    Timestamp(i128),
    Type(Arc<str>),
    Optional(Option<Box<Val>>),
    Quantity(Quantity),
    Url(Arc<str>),
    Ip(std::net::IpAddr),
    Cidr(std::net::IpAddr, u8),
}

impl Val {
    pub fn str(s: &str) -> Val {
        Val::Str(Arc::from(s))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null_type",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Uint(_) => "uint",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::Bytes(_) => "bytes",
            Val::List(_) => "list",
            Val::Map(_) => "map",
            Val::Duration(_) => "google.protobuf.Duration",
            Val::Timestamp(_) => "google.protobuf.Timestamp",
            Val::Type(_) => "type",
            Val::Optional(_) => "optional_type",
            Val::Quantity(_) => "kubernetes.Quantity",
            Val::Url(_) => "kubernetes.URL",
            Val::Ip(_) => "net.IP",
            Val::Cidr(..) => "net.CIDR",
        }
    }

    pub fn from_json(v: &Value) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Val::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Val::Uint(u)
                } else {
                    Val::Double(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => Val::str(s),
            Value::Array(items) => Val::List(Arc::new(items.iter().map(Val::from_json).collect())),
            Value::Object(m) => Val::Map(Arc::new(
                m.iter().map(|(k, v)| (Key::Str(Arc::from(k.as_str())), Val::from_json(v))).collect(),
            )),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Val::Null | Val::Optional(None) => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Uint(u) => Value::from(*u),
            Val::Double(d) => serde_json::Number::from_f64(*d).map(Value::Number).unwrap_or(Value::Null),
            Val::Str(s) | Val::Url(s) | Val::Type(s) => Value::String(s.to_string()),
            Val::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
            Val::List(items) => Value::Array(items.iter().map(Val::to_json).collect()),
            Val::Map(m) => Value::Object(m.iter().map(|(k, v)| (key_string(k), v.to_json())).collect()),
            Val::Duration(d) => Value::String(crate::duration::format(*d)),
            Val::Timestamp(t) => Value::String(t.to_string()),
            Val::Optional(Some(v)) => v.to_json(),
            Val::Quantity(q) => Value::String(q.canonical()),
            Val::Ip(ip) => Value::String(ip.to_string()),
            Val::Cidr(ip, p) => Value::String(format!("{ip}/{p}")),
        }
    }

    pub fn to_key(&self) -> Option<Key> {
        match self {
            Val::Bool(b) => Some(Key::Bool(*b)),
            Val::Int(i) => Some(Key::Int(*i)),
            Val::Uint(u) => Some(Key::Uint(*u)),
            Val::Str(s) => Some(Key::Str(s.clone())),
            _ => None,
        }
    }

    /// Text for string concatenation in messages (CEL `string()` conversion).
    pub fn display(&self) -> String {
        match self {
            Val::Str(s) => s.to_string(),
            Val::Null => "null".into(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Uint(u) => u.to_string(),
            Val::Double(d) => crate::gofmt::format_g(*d),
            other => crate::gofmt::json_marshal(&other.to_json()),
        }
    }
}

pub fn key_string(k: &Key) -> String {
    match k {
        Key::Bool(b) => b.to_string(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Str(s) => s.to_string(),
    }
}

pub fn key_val(k: &Key) -> Val {
    match k {
        Key::Bool(b) => Val::Bool(*b),
        Key::Int(i) => Val::Int(*i),
        Key::Uint(u) => Val::Uint(*u),
        Key::Str(s) => Val::Str(s.clone()),
    }
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Uint(u) => Some(*u as f64),
        Val::Double(d) => Some(*d),
        _ => None,
    }
}

/// CEL equality with heterogeneous numeric comparison (`1 == 1.0`, `1u == 1`).
pub fn equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Uint(x), Val::Uint(y)) => x == y,
        (Val::Int(x), Val::Uint(y)) | (Val::Uint(y), Val::Int(x)) => *x >= 0 && (*x as u64) == *y,
        (Val::Double(_), _) | (_, Val::Double(_)) => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bytes(x), Val::Bytes(y)) => x == y,
        (Val::List(x), Val::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| equals(a, b)),
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        (Val::Duration(x), Val::Duration(y)) => x == y,
        (Val::Timestamp(x), Val::Timestamp(y)) => x == y,
        (Val::Type(x), Val::Type(y)) => x == y,
        (Val::Optional(x), Val::Optional(y)) => match (x, y) {
            (None, None) => true,
            (Some(a), Some(b)) => equals(a, b),
            _ => false,
        },
        (Val::Quantity(x), Val::Quantity(y)) => x == y,
        (Val::Url(x), Val::Url(y)) => x == y,
        (Val::Ip(x), Val::Ip(y)) => x == y,
        (Val::Cidr(a, p), Val::Cidr(b, q)) => a == b && p == q,
        _ => false,
    }
}

/// Ordering for `<`, `<=`, `>`, `>=`; `None` when the types do not compare.
pub fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Uint(x), Val::Uint(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Uint(y)) => Some(if *x < 0 { Ordering::Less } else { (*x as u64).cmp(y) }),
        (Val::Uint(x), Val::Int(y)) => Some(if *y < 0 { Ordering::Greater } else { x.cmp(&(*y as u64)) }),
        (Val::Double(_), _) | (_, Val::Double(_)) => num(a)?.partial_cmp(&num(b)?),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bytes(x), Val::Bytes(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Duration(x), Val::Duration(y)) => Some(x.cmp(y)),
        (Val::Timestamp(x), Val::Timestamp(y)) => Some(x.cmp(y)),
        _ => None,
    }
}
