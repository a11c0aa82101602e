//! JMESPath as Kyverno evaluates it: the grammar of jmespath.org parsed by the `jmespath` crate, evaluated
//! by medic's own interpreter with the semantics of Kyverno's go-jmespath fork:
//!
//! - a missing key in an object is an error (`Unknown key "x" in path`), not null; the error is absorbed
//!   by `||`, `&&`, `!`, comparisons, filters, projections (on either side), multi-selects and function
//!   arguments, which see null instead;
//! - numbers behave as Go float64 values;
//! - Kyverno's custom functions (`regex_match`, `divide`, `x509_decode`, `time_*`, ...) are available.
mod digest;
mod functions;
mod kyverno;
pub use kyverno::clean_path;
mod semver_range;
mod time;
mod x509;

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// A compiled JMESPath expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Identity,
    Field(String),
    Index(i64),
    Slice { start: Option<i64>, stop: Option<i64>, step: i64 },
    Literal(Value),
    Sub(Box<Expr>, Box<Expr>),
    Projection(Box<Expr>, Box<Expr>),
    Flatten(Box<Expr>),
    ObjectValues(Box<Expr>),
    Condition(Box<Expr>, Box<Expr>),
    Compare(Cmp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    MultiList(Vec<Expr>),
    MultiHash(Vec<(String, Expr)>),
    Function(String, Vec<Expr>),
    Expref(Arc<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An evaluation error.
#[derive(Debug, Clone, PartialEq)]
pub enum JpError {
    /// A key missing in an object (Kyverno's `NotFoundError`).
    NotFound(String),
    /// Any other failure: wrong argument types, unknown function, invalid regex, ...
    Runtime(String),
}

impl std::fmt::Display for JpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JpError::NotFound(key) => write!(f, "Unknown key \"{key}\" in path"),
            JpError::Runtime(msg) => f.write_str(msg),
        }
    }
}

pub type JpResult<T> = Result<T, JpError>;

pub(crate) fn runtime<T>(msg: impl Into<String>) -> JpResult<T> {
    Err(JpError::Runtime(msg.into()))
}

/// Parses `source`; the error text is the parser's.
pub fn compile(source: &str) -> Result<Expr, String> {
    let ast = jmespath::parse(source).map_err(|e| e.to_string())?;
    convert(&ast)
}

fn convert(ast: &jmespath::ast::Ast) -> Result<Expr, String> {
    use jmespath::ast::{Ast, Comparator};
    let b = |a: &Ast| convert(a).map(Box::new);
    Ok(match ast {
        Ast::Identity { .. } => Expr::Identity,
        Ast::Field { name, .. } => Expr::Field(name.clone()),
        Ast::Index { idx, .. } => Expr::Index(i64::from(*idx)),
        Ast::Slice { start, stop, step, .. } => {
            Expr::Slice { start: start.map(i64::from), stop: stop.map(i64::from), step: i64::from(*step) }
        }
        Ast::Literal { value, .. } => Expr::Literal(serde_json::to_value(&**value).map_err(|e| e.to_string())?),
        Ast::Subexpr { lhs, rhs, .. } => Expr::Sub(b(lhs)?, b(rhs)?),
        Ast::Projection { lhs, rhs, .. } => Expr::Projection(b(lhs)?, b(rhs)?),
        Ast::Flatten { node, .. } => Expr::Flatten(b(node)?),
        Ast::ObjectValues { node, .. } => Expr::ObjectValues(b(node)?),
        Ast::Condition { predicate, then, .. } => Expr::Condition(b(predicate)?, b(then)?),
        Ast::Comparison { comparator, lhs, rhs, .. } => {
            let cmp = match comparator {
                Comparator::Equal => Cmp::Eq,
                Comparator::NotEqual => Cmp::Ne,
                Comparator::LessThan => Cmp::Lt,
                Comparator::LessThanEqual => Cmp::Le,
                Comparator::GreaterThan => Cmp::Gt,
                Comparator::GreaterThanEqual => Cmp::Ge,
            };
            Expr::Compare(cmp, b(lhs)?, b(rhs)?)
        }
        Ast::And { lhs, rhs, .. } => Expr::And(b(lhs)?, b(rhs)?),
        Ast::Or { lhs, rhs, .. } => Expr::Or(b(lhs)?, b(rhs)?),
        Ast::Not { node, .. } => Expr::Not(b(node)?),
        Ast::MultiList { elements, .. } => Expr::MultiList(elements.iter().map(convert).collect::<Result<_, _>>()?),
        Ast::MultiHash { elements, .. } => Expr::MultiHash(
            elements.iter().map(|kv| Ok((kv.key.clone(), convert(&kv.value)?))).collect::<Result<_, String>>()?,
        ),
        Ast::Function { name, args, .. } => {
            let args = args.iter().map(convert).collect::<Result<Vec<_>, _>>()?;
            if !functions::exists(name) {
                return Err(format!("unknown function: {name}()"));
            }
            Expr::Function(name.clone(), args)
        }
        Ast::Expref { ast, .. } => Expr::Expref(Arc::new(convert(ast)?)),
    })
}

/// JMESPath truthiness: null, false, "", [] and {} are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        Value::Number(_) => true,
    }
}

/// Equality of JSON values with numbers compared as float64.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

static NULL: Value = Value::Null;

fn absorb<'a>(r: JpResult<Cow<'a, Value>>) -> JpResult<Cow<'a, Value>> {
    match r {
        Err(JpError::NotFound(_)) => Ok(Cow::Borrowed(&NULL)),
        other => other,
    }
}

fn child<'a>(data: Cow<'a, Value>, name: &str) -> JpResult<Cow<'a, Value>> {
    match data {
        Cow::Borrowed(Value::Object(m)) => match m.get(name) {
            Some(v) => Ok(Cow::Borrowed(v)),
            None => Err(JpError::NotFound(name.to_string())),
        },
        Cow::Owned(Value::Object(mut m)) => match m.remove(name) {
            Some(v) => Ok(Cow::Owned(v)),
            None => Err(JpError::NotFound(name.to_string())),
        },
        _ => Ok(Cow::Borrowed(&NULL)),
    }
}

fn elements<'a>(data: Cow<'a, Value>) -> Option<Vec<Cow<'a, Value>>> {
    match data {
        Cow::Borrowed(Value::Array(items)) => Some(items.iter().map(Cow::Borrowed).collect()),
        Cow::Owned(Value::Array(items)) => Some(items.into_iter().map(Cow::Owned).collect()),
        _ => None,
    }
}

/// Evaluates `expr` against `data`.
pub fn search<'a>(expr: &Expr, data: &'a Value) -> JpResult<Cow<'a, Value>> {
    eval(expr, Cow::Borrowed(data))
}

pub(crate) fn eval<'a>(expr: &Expr, data: Cow<'a, Value>) -> JpResult<Cow<'a, Value>> {
    match expr {
        Expr::Identity => Ok(data),
        Expr::Field(name) => child(data, name),
        Expr::Index(idx) => Ok(match elements(data) {
            Some(mut items) => {
                let len = items.len() as i64;
                let i = if *idx < 0 { len + idx } else { *idx };
                if i >= 0 && i < len { items.swap_remove(i as usize) } else { Cow::Borrowed(&NULL) }
            }
            None => Cow::Borrowed(&NULL),
        }),
        Expr::Slice { start, stop, step } => Ok(match elements(data) {
            Some(items) => Cow::Owned(Value::Array(slice(items, *start, *stop, *step)?)),
            None => Cow::Borrowed(&NULL),
        }),
        Expr::Literal(v) => Ok(Cow::Owned(v.clone())),
        Expr::Sub(lhs, rhs) => {
            let left = eval(lhs, data)?;
            eval(rhs, left)
        }
        Expr::Projection(lhs, rhs) => {
            // A projection over a missing key projects nothing (Kyverno's fork absorbs the error here).
            let left = absorb(eval(lhs, data))?;
            let Some(items) = elements(left) else { return Ok(Cow::Borrowed(&NULL)) };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match eval(rhs, item) {
                    Ok(v) if !v.is_null() => out.push(v.into_owned()),
                    Ok(_) | Err(JpError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Cow::Owned(Value::Array(out)))
        }
        Expr::Flatten(node) => {
            let v = absorb(eval(node, data))?;
            let Some(items) = elements(v) else { return Ok(Cow::Borrowed(&NULL)) };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item.into_owned() {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Ok(Cow::Owned(Value::Array(out)))
        }
        Expr::ObjectValues(node) => {
            let v = absorb(eval(node, data))?;
            Ok(match v {
                Cow::Borrowed(Value::Object(m)) => Cow::Owned(Value::Array(m.values().cloned().collect())),
                Cow::Owned(Value::Object(m)) => Cow::Owned(Value::Array(m.into_iter().map(|(_, v)| v).collect())),
                _ => Cow::Borrowed(&NULL),
            })
        }
        Expr::Condition(predicate, then) => {
            let ok = absorb(eval(predicate, data.clone()))?;
            if truthy(&ok) { eval(then, data) } else { Ok(Cow::Borrowed(&NULL)) }
        }
        Expr::Compare(cmp, lhs, rhs) => {
            let l = absorb(eval(lhs, data.clone()))?;
            let r = absorb(eval(rhs, data))?;
            Ok(Cow::Owned(compare(*cmp, &l, &r)))
        }
        Expr::And(lhs, rhs) => {
            let l = absorb(eval(lhs, data.clone()))?;
            if !truthy(&l) { Ok(l) } else { absorb(eval(rhs, data)) }
        }
        Expr::Or(lhs, rhs) => {
            let l = absorb(eval(lhs, data.clone()))?;
            if truthy(&l) { Ok(l) } else { absorb(eval(rhs, data)) }
        }
        Expr::Not(node) => {
            let v = absorb(eval(node, data))?;
            Ok(Cow::Owned(Value::Bool(!truthy(&v))))
        }
        Expr::MultiList(items) => {
            if data.is_null() {
                return Ok(Cow::Borrowed(&NULL));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(absorb(eval(item, data.clone()))?.into_owned());
            }
            Ok(Cow::Owned(Value::Array(out)))
        }
        Expr::MultiHash(pairs) => {
            if data.is_null() {
                return Ok(Cow::Borrowed(&NULL));
            }
            let mut out = Map::new();
            for (key, item) in pairs {
                out.insert(key.clone(), absorb(eval(item, data.clone()))?.into_owned());
            }
            Ok(Cow::Owned(Value::Object(out)))
        }
        Expr::Function(name, args) => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(match arg {
                    Expr::Expref(e) => functions::Arg::Expref(e.clone()),
                    other => functions::Arg::Value(absorb(eval(other, data.clone()))?.into_owned()),
                });
            }
            functions::call(name, values).map(Cow::Owned)
        }
        Expr::Expref(_) => runtime("an expression reference (&expr) can only be a function argument"),
    }
}

fn compare(cmp: Cmp, l: &Value, r: &Value) -> Value {
    match cmp {
        Cmp::Eq => Value::Bool(json_eq(l, r)),
        Cmp::Ne => Value::Bool(!json_eq(l, r)),
        _ => match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) if l.is_number() && r.is_number() => Value::Bool(match cmp {
                Cmp::Lt => a < b,
                Cmp::Le => a <= b,
                Cmp::Gt => a > b,
                _ => a >= b,
            }),
            _ => Value::Null,
        },
    }
}

fn slice(items: Vec<Cow<'_, Value>>, start: Option<i64>, stop: Option<i64>, step: i64) -> JpResult<Vec<Value>> {
    if step == 0 {
        return runtime("slice step cannot be 0");
    }
    let len = items.len() as i64;
    let cap = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
    let norm = |v: i64| if v < 0 { v + len } else { v };
    let (start, stop) = if step > 0 {
        (cap(norm(start.unwrap_or(0)), 0, len), cap(norm(stop.unwrap_or(len)), 0, len))
    } else {
        (cap(norm(start.unwrap_or(len - 1)), -1, len - 1), cap(norm(stop.unwrap_or(-len - 1)), -1, len - 1))
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        if i >= 0 && i < len {
            out.push(items[i as usize].clone().into_owned());
        }
        i += step;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
