//! Kyverno's `validate.MatchPattern`: matching a resource against a `pattern` tree with anchors.
//!
//! The walk mirrors Kyverno's (pkg/engine/validate): anchors first in key order, then plain keys with
//! global anchors and keys holding nested anchors first; arrays of maps apply the element pattern to every
//! element; conditional anchors turn a mismatch into a skip. The outcome distinguishes skip, fail (with the
//! path of the first mismatch) and error (a mismatch while some conditional anchor key is absent).
pub mod anchor;
pub mod scalar;

use anchor::AnchorKind;
use serde_json::{Map, Value};
use std::collections::HashMap;

static NULL: Value = Value::Null;

/// Why a pattern did not match, as Kyverno's `PatternError`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError {
    pub message: String,
    /// Path of the mismatch; empty for skips and for errors.
    pub path: String,
    pub skip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnchorError {
    Conditional,
    Global,
    Negation,
}

/// The internal error of the walk: an anchor error, a nested pattern error, or a plain mismatch.
#[derive(Debug, Clone)]
enum WalkError {
    Anchor(AnchorError, String),
    Pattern { message: String, skip: bool },
    Plain(String),
}

impl WalkError {
    fn message(&self) -> &str {
        match self {
            WalkError::Anchor(_, m) | WalkError::Pattern { message: m, .. } | WalkError::Plain(m) => m,
        }
    }
    /// Conditional and global anchor mismatches skip; so does an array whose elements all skipped (its
    /// error wraps theirs).
    fn is_skip(&self) -> bool {
        matches!(
            self,
            WalkError::Anchor(AnchorError::Conditional | AnchorError::Global, _)
                | WalkError::Pattern { skip: true, .. }
        )
    }
}

type Walk = Result<(), (String, WalkError)>;

/// Tracks, for every conditional/existence/negation anchor key, whether the resource ever had that key.
#[derive(Default)]
struct AnchorMap {
    seen: HashMap<String, bool>,
}

impl AnchorMap {
    fn check(&mut self, pattern: &Map<String, Value>, resource: &Map<String, Value>) {
        for key in pattern.keys() {
            let Some(a) = anchor::parse(key) else { continue };
            if !matches!(a.kind, AnchorKind::Condition | AnchorKind::Existence | AnchorKind::Negation) {
                continue;
            }
            let entry = self.seen.entry(key.clone()).or_insert(false);
            if !*entry && resource.contains_key(a.key) {
                *entry = true;
            }
        }
    }
    fn keys_are_missing(&self) -> bool {
        self.seen.values().any(|v| !v)
    }
}

/// Matches `resource` against `pattern` from the root.
pub fn match_pattern(resource: &Value, pattern: &Value) -> Result<(), PatternError> {
    let mut anchors = AnchorMap::default();
    let mut path = String::from("/");
    match element(resource, pattern, &mut path, &mut anchors) {
        Ok(()) => Ok(()),
        Err((elem_path, err)) => {
            let message = err.message().to_string();
            if err.is_skip() {
                Err(PatternError { message, path: String::new(), skip: true })
            } else if matches!(err, WalkError::Anchor(AnchorError::Negation, _)) {
                Err(PatternError { message, path: elem_path, skip: false })
            } else if anchors.keys_are_missing() {
                Err(PatternError { message, path: String::new(), skip: false })
            } else {
                Err(PatternError { message, path: elem_path, skip: false })
            }
        }
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn element(resource: &Value, pattern: &Value, path: &mut String, anchors: &mut AnchorMap) -> Walk {
    match pattern {
        Value::Object(pmap) => {
            let Value::Object(rmap) = resource else {
                return Err((
                    path.clone(),
                    WalkError::Plain(format!(
                        "pattern and resource have different structures. Path: {path}. Expected {}, found {}",
                        go_type(pattern),
                        go_type(resource)
                    )),
                ));
            };
            anchors.check(pmap, rmap);
            validate_map(rmap, pmap, path, anchors)
        }
        Value::Array(parr) => {
            let Value::Array(rarr) = resource else {
                return Err((
                    path.clone(),
                    WalkError::Plain(format!(
                        "validation rule failed at path {path}, resource does not satisfy the expected overlay pattern"
                    )),
                ));
            };
            validate_array(rarr, parr, path, anchors)
        }
        _ => {
            let ok = match resource {
                Value::Array(items) => items.iter().all(|item| scalar::validate(item, pattern)),
                other => scalar::validate(other, pattern),
            };
            if ok {
                Ok(())
            } else {
                Err((
                    path.clone(),
                    WalkError::Plain(format!(
                        "resource value '{}' does not match '{}' at path {path}",
                        display(resource),
                        display(pattern)
                    )),
                ))
            }
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        other => crate::gofmt::sprint(other),
    }
}

fn has_nested_anchors(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            anchor::parse(k).is_some_and(|a| a.kind != AnchorKind::AddIfNotPresent) || has_nested_anchors(v)
        }),
        Value::Array(items) => items.iter().any(has_nested_anchors),
        _ => false,
    }
}

fn validate_map(
    rmap: &Map<String, Value>,
    pmap: &Map<String, Value>,
    path: &mut String,
    anchors: &mut AnchorMap,
) -> Walk {
    let expanded = expand_in_metadata(pmap, rmap);
    let pmap: &Map<String, Value> = expanded.as_ref().unwrap_or(pmap);

    // Phase 1: conditional, existence, equality and negation anchors, in key order.
    for (key, pvalue) in pmap.iter().filter(|(k, _)| anchor::is_handled_first(k)) {
        handle(key, pvalue, rmap, path, anchors)?;
    }
    // Phase 2: the rest; global anchors and keys with nested anchors first.
    let rest: Vec<(&String, &Value)> = pmap.iter().filter(|(k, _)| !anchor::is_handled_first(k)).collect();
    let first =
        |k: &str, v: &Value| anchor::parse(k).is_some_and(|a| a.kind == AnchorKind::Global) || has_nested_anchors(v);
    for (key, pvalue) in rest.iter().rev().filter(|(k, v)| first(k, v)) {
        handle(key, pvalue, rmap, path, anchors)?;
    }
    for (key, pvalue) in rest.iter().filter(|(k, v)| !first(k, v)) {
        handle(key, pvalue, rmap, path, anchors)?;
    }
    Ok(())
}

/// Runs `f` with `segment/` appended to the path, restoring it afterwards.
fn with_segment<T>(path: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    path.push_str(segment);
    path.push('/');
    let out = f(path);
    path.truncate(len);
    out
}

fn handle(key: &str, pvalue: &Value, rmap: &Map<String, Value>, path: &mut String, anchors: &mut AnchorMap) -> Walk {
    let parsed = anchor::parse(key);
    match parsed.map(|a| (a.kind, a.key)) {
        Some((AnchorKind::Negation, k)) => {
            if rmap.contains_key(k) {
                let current = format!("{path}{k}/");
                let message = format!("negation anchor matched in resource: {current} is not allowed");
                return Err((current, WalkError::Anchor(AnchorError::Negation, message)));
            }
            Ok(())
        }
        Some((AnchorKind::Equality, k)) => match rmap.get(k) {
            Some(v) => with_segment(path, k, |p| element(v, pvalue, p, anchors)),
            None => Ok(()),
        },
        Some((AnchorKind::Condition, k)) => match rmap.get(k) {
            Some(v) => with_segment(path, k, |p| element(v, pvalue, p, anchors)).map_err(|(p, e)| {
                (
                    p,
                    WalkError::Anchor(
                        AnchorError::Conditional,
                        format!("conditional anchor mismatch: {}", e.message()),
                    ),
                )
            }),
            None => Err((
                format!("{path}{k}/"),
                WalkError::Anchor(
                    AnchorError::Conditional,
                    "conditional anchor mismatch: conditional anchor key doesn't exist in the resource".into(),
                ),
            )),
        },
        Some((AnchorKind::Global, k)) => match rmap.get(k) {
            Some(v) => with_segment(path, k, |p| element(v, pvalue, p, anchors)).map_err(|(p, e)| {
                (p, WalkError::Anchor(AnchorError::Global, format!("global anchor mismatch: {}", e.message())))
            }),
            None => Ok(()),
        },
        Some((AnchorKind::Existence, k)) => match rmap.get(k) {
            Some(value) => with_segment(path, k, |p| existence(value, pvalue, p, anchors)),
            None => Ok(()),
        },
        _ => {
            // Plain keys, and `+(key)` which validation does not interpret.
            let value = rmap.get(key).unwrap_or(&NULL);
            if pvalue.as_str() == Some("*") {
                return if value.is_null() {
                    Err((path.clone(), WalkError::Plain(format!("{path}/{key} not found"))))
                } else {
                    Ok(())
                };
            }
            with_segment(path, key, |p| element(value, pvalue, p, anchors))
        }
    }
}

fn existence(value: &Value, pattern: &Value, path: &mut String, anchors: &mut AnchorMap) -> Walk {
    let Value::Array(items) = value else {
        return Err((
            path.clone(),
            WalkError::Plain(format!(
                "invalid resource type {}: Existence ^ () anchor can be used only on list/array type resource",
                go_type(value)
            )),
        ));
    };
    let Value::Array(patterns) = pattern else {
        return Err((
            path.clone(),
            WalkError::Plain(format!(
                "invalid pattern type {}: Pattern has to be of list to compare against resource",
                go_type(pattern)
            )),
        ));
    };
    for p in patterns {
        if !p.is_object() {
            return Err((
                path.clone(),
                WalkError::Plain(format!(
                    "invalid pattern type {}: Pattern has to be of type map to compare against items in resource",
                    go_type(pattern)
                )),
            ));
        }
        let found = items
            .iter()
            .enumerate()
            .any(|(i, item)| with_segment(path, &i.to_string(), |ip| element(item, p, ip, anchors)).is_ok());
        if !found {
            return Err((path.clone(), WalkError::Plain(format!("existence anchor validation failed at path {path}"))));
        }
    }
    Ok(())
}

fn validate_array(rarr: &[Value], parr: &[Value], path: &mut String, anchors: &mut AnchorMap) -> Walk {
    let Some(first) = parr.first() else {
        return Err((path.clone(), WalkError::Plain("pattern Array empty".into())));
    };
    match first {
        Value::Object(_) => each_element(rarr.iter().map(|r| (r, first)), path, anchors),
        Value::Array(_) => {
            if rarr.len() < parr.len() {
                return Err((
                    String::new(),
                    WalkError::Plain(format!(
                        "validate Array failed, array length mismatch, resource Array len is {} and pattern Array len is {}",
                        rarr.len(),
                        parr.len()
                    )),
                ));
            }
            each_element(rarr.iter().zip(parr.iter()), path, anchors)
        }
        scalar => {
            // Every element must match the first (scalar) pattern element.
            let ok = rarr.iter().all(|item| scalar::validate(item, scalar));
            if ok {
                Ok(())
            } else {
                Err((
                    path.clone(),
                    WalkError::Plain(format!(
                        "resource value '{}' does not match '{}' at path {path}",
                        crate::gofmt::sprint(&Value::Array(rarr.to_vec())),
                        display(scalar)
                    )),
                ))
            }
        }
    }
}

/// Applies each pattern to its element; elements skipped by a conditional anchor are ignored, and if every
/// element was skipped the array as a whole reports a skip.
fn each_element<'a>(
    pairs: impl Iterator<Item = (&'a Value, &'a Value)>,
    path: &mut String,
    anchors: &mut AnchorMap,
) -> Walk {
    let mut applied = 0usize;
    let mut skipped: Vec<String> = Vec::new();
    for (i, (resource, pattern)) in pairs.enumerate() {
        match with_segment(path, &i.to_string(), |p| element(resource, pattern, p, anchors)) {
            Ok(()) => applied += 1,
            Err((_, e)) if e.is_skip() => skipped.push(e.message().to_string()),
            Err(other) => return Err(other),
        }
    }
    if applied == 0 && !skipped.is_empty() {
        return Err((path.clone(), WalkError::Pattern { message: skipped.join("; "), skip: true }));
    }
    Ok(())
}

/// Kyverno's `wildcards.ExpandInMetadata`: wildcard keys under `metadata.labels` / `metadata.annotations`
/// of a pattern are replaced by the first matching key of the resource. Returns `None` when nothing changes.
fn expand_in_metadata(pmap: &Map<String, Value>, rmap: &Map<String, Value>) -> Option<Map<String, Value>> {
    let (meta_key, Value::Object(pmeta)) = find_tag("metadata", pmap)? else { return None };
    let Some(Value::Object(rmeta)) = rmap.get("metadata") else { return None };
    let mut new_meta: Option<Map<String, Value>> = None;
    for tag in ["labels", "annotations"] {
        let Some((pkey, Value::Object(pdata))) = find_tag(tag, pmeta) else { continue };
        if !pdata.keys().any(|k| crate::wildcard::contains_wildcard(k)) || !pdata.values().all(Value::is_string) {
            continue;
        }
        let Some((_, Value::Object(rdata))) = find_tag(tag, rmeta) else { continue };
        if !rdata.values().all(Value::is_string) {
            continue;
        }
        let mut results = Map::new();
        for (k, v) in pdata {
            if !crate::wildcard::contains_wildcard(k) {
                results.insert(k.clone(), v.clone());
                continue;
            }
            let (kind, inner) = match anchor::parse(k) {
                Some(a) => (Some(a.kind), a.key),
                None => (None, k.as_str()),
            };
            let matched =
                rdata.keys().find(|rk| crate::wildcard::matches(inner, rk)).map(String::as_str).unwrap_or(inner);
            let new_key = match kind {
                Some(kind) => anchor::render(kind, matched),
                None => matched.to_string(),
            };
            results.insert(new_key, v.clone());
        }
        new_meta.get_or_insert_with(|| pmeta.clone()).insert(pkey.to_string(), Value::Object(results));
    }
    let new_meta = new_meta?;
    let mut out = pmap.clone();
    out.insert(meta_key.to_string(), Value::Object(new_meta));
    Some(out)
}

fn find_tag<'a>(tag: &str, map: &'a Map<String, Value>) -> Option<(&'a str, &'a Value)> {
    map.iter()
        .find(|(k, _)| k.as_str() == tag || anchor::parse(k).is_some_and(|a| a.key == tag))
        .map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests;
