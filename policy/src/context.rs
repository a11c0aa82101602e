//! The JSON context that variables are resolved against (`request`, `element`, context entries, values),
//! with Kyverno's query rules and checkpoints for per-rule and per-element scopes.
use crate::jmespath::{self, Expr, JpError};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a query failed.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryError {
    /// A key missing along the path (Kyverno's `NotFoundError`).
    NotFound(String),
    /// The expression does not parse.
    Invalid(String),
    /// Evaluation failed, or a context entry the query needs failed to load.
    Failed(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::NotFound(key) => write!(f, "JMESPath query failed: Unknown key \"{key}\" in path"),
            QueryError::Invalid(m) | QueryError::Failed(m) => f.write_str(m),
        }
    }
}

/// Compiled expressions, shared by all evaluations of a policy set.
pub type ExprCache = HashMap<String, Arc<Expr>>;

/// The evaluation context for one (policy, resource) pair.
pub struct Context<'p> {
    root: Value,
    /// Undo log: (top-level key, previous value) for restoring checkpoints.
    undo: Vec<(String, Option<Value>)>,
    checkpoints: Vec<usize>,
    /// Context entries that failed to load: a query naming them fails with the stored error.
    failed_entries: Vec<(String, String)>,
    failed_marks: Vec<usize>,
    compiled: &'p ExprCache,
    local: HashMap<String, Arc<Expr>>,
}

impl<'p> Context<'p> {
    pub fn new(root: Map<String, Value>, compiled: &'p ExprCache) -> Self {
        Context {
            root: Value::Object(root),
            undo: Vec::new(),
            checkpoints: Vec::new(),
            failed_entries: Vec::new(),
            failed_marks: Vec::new(),
            compiled,
            local: HashMap::new(),
        }
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    fn map(&mut self) -> &mut Map<String, Value> {
        match &mut self.root {
            Value::Object(m) => m,
            other => {
                *other = Value::Object(Map::new());
                match other {
                    Value::Object(m) => m,
                    _ => unreachable!("just set to an object"),
                }
            }
        }
    }

    /// Sets a top-level entry (`ReplaceContextEntry`), recording the previous value for restore.
    pub fn set(&mut self, key: &str, value: Value) {
        let previous = self.map().insert(key.to_string(), value);
        if !self.checkpoints.is_empty() {
            self.undo.push((key.to_string(), previous));
        }
    }

    /// `AddVariable`: sets a dotted path (`request.operation`), merging into existing objects.
    pub fn add_variable(&mut self, dotted: &str, value: Value) {
        let parts = split_path(dotted);
        let Some((top, rest)) = parts.split_first() else { return };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let mut current = self.map().get(top).cloned().unwrap_or(Value::Null);
        set_path(&mut current, &rest, value);
        self.set(top, current);
    }

    /// Records that context entry `name` failed to load with `error`.
    pub fn mark_failed(&mut self, name: &str, error: String) {
        self.failed_entries.push((name.to_string(), error));
    }

    pub fn checkpoint(&mut self) {
        self.checkpoints.push(self.undo.len());
        self.failed_marks.push(self.failed_entries.len());
    }

    /// Restores the state of the last checkpoint and keeps it (Kyverno's `Reset`).
    pub fn reset(&mut self) {
        let Some(&mark) = self.checkpoints.last() else { return };
        while self.undo.len() > mark {
            if let Some((key, previous)) = self.undo.pop() {
                let m = self.map();
                match previous {
                    Some(v) => {
                        m.insert(key, v);
                    }
                    None => {
                        m.remove(&key);
                    }
                }
            }
        }
        if let Some(&fmark) = self.failed_marks.last() {
            self.failed_entries.truncate(fmark);
        }
    }

    /// Restores the last checkpoint and removes it (Kyverno's `Restore`).
    pub fn restore(&mut self) {
        self.reset();
        self.checkpoints.pop();
        self.failed_marks.pop();
    }

    fn expr(&mut self, query: &str) -> Result<Arc<Expr>, QueryError> {
        if let Some(e) = self.compiled.get(query).or_else(|| self.local.get(query)) {
            return Ok(e.clone());
        }
        let e = Arc::new(
            jmespath::compile(query).map_err(|e| QueryError::Invalid(format!("incorrect query {query}: {e}")))?,
        );
        self.local.insert(query.to_string(), e.clone());
        Ok(e)
    }

    /// Kyverno's `Context.Query`.
    pub fn query(&mut self, query: &str) -> Result<Value, QueryError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(QueryError::Invalid("invalid query (nil)".into()));
        }
        if let Some((name, error)) = self.failed_entries.iter().rev().find(|(name, _)| mentions(query, name)) {
            return Err(QueryError::Failed(format!("failed to load context entry {name}: {error}")));
        }
        let expr = self.expr(query)?;
        match jmespath::search(&expr, &self.root) {
            Ok(v) => Ok(v.into_owned()),
            Err(JpError::NotFound(key)) => Err(QueryError::NotFound(key)),
            Err(JpError::Runtime(msg)) => Err(QueryError::Failed(format!("JMESPath query failed: {msg}"))),
        }
    }

    /// Evaluates a query against an arbitrary value (used for `variable.value` + `jmesPath`).
    pub fn query_value(&mut self, query: &str, data: &Value) -> Result<Value, QueryError> {
        let expr = self.expr(query.trim())?;
        match jmespath::search(&expr, data) {
            Ok(v) => Ok(v.into_owned()),
            Err(JpError::NotFound(key)) => Err(QueryError::NotFound(key)),
            Err(JpError::Runtime(msg)) => Err(QueryError::Failed(msg)),
        }
    }

    /// A value at a dotted path of the root, without JMESPath (for `request.operation` and friends).
    pub fn get_path(&self, dotted: &str) -> Option<&Value> {
        dotted.split('.').try_fold(&self.root, |v, key| v.get(key))
    }

    pub fn compiled(&self) -> Cow<'_, ExprCache> {
        Cow::Borrowed(self.compiled)
    }
}

/// Whether `query` refers to the top-level name `name` (as Kyverno's deferred loader matches it:
/// the name not preceded by a dot and ending at a word boundary).
fn mentions(query: &str, name: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = query[from..].find(name) {
        let start = from + pos;
        let end = start + name.len();
        let before_ok = start == 0 || query.as_bytes()[start - 1] != b'.';
        let after_ok = query[end..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let word_start = start == 0 || !query[..start].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
        if before_ok && after_ok && word_start {
            return true;
        }
        from = start + name.len().max(1);
    }
    false
}

/// Splits `a.b."c.d".e` into `a`, `b`, `c.d`, `e`.
fn split_path(dotted: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in dotted.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out
}

fn set_path(target: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        merge(target, value);
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(m) = target {
        let entry = m.entry(first.to_string()).or_insert(Value::Null);
        set_path(entry, rest, value);
    }
}

/// Merges `value` into `target`: objects recursively, anything else replaces.
fn merge(target: &mut Value, value: Value) {
    match (target, value) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, item) in v {
                match t.get_mut(&k) {
                    Some(existing) => merge(existing, item),
                    None => {
                        t.insert(k, item);
                    }
                }
            }
        }
        (t, v) => *t = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checkpoints_restore_entries_and_failures() {
        let cache = ExprCache::new();
        let mut ctx = Context::new(Map::new(), &cache);
        ctx.set("a", json!(1));
        ctx.checkpoint();
        ctx.set("a", json!(2));
        ctx.set("b", json!(3));
        ctx.mark_failed("broken", "boom".into());
        assert!(matches!(ctx.query("broken.x"), Err(QueryError::Failed(_))));
        assert_eq!(ctx.query("a").unwrap(), json!(2));
        ctx.reset();
        assert_eq!(ctx.query("a").unwrap(), json!(1));
        assert!(matches!(ctx.query("b"), Err(QueryError::NotFound(_))));
        assert!(matches!(ctx.query("broken"), Err(QueryError::NotFound(_))));
        ctx.restore();
        assert!(ctx.checkpoints.is_empty());
    }

    #[test]
    fn add_variable_sets_nested_paths() {
        let cache = ExprCache::new();
        let mut ctx = Context::new(Map::new(), &cache);
        ctx.set("request", json!({"object": {"a": 1}, "operation": "CREATE"}));
        ctx.add_variable("request.operation", json!("UPDATE"));
        ctx.add_variable("request.object.b", json!(2));
        ctx.add_variable("request.object.\"x.y/z\"", json!(3));
        assert_eq!(ctx.root()["request"], json!({"object": {"a": 1, "b": 2, "x.y/z": 3}, "operation": "UPDATE"}));
    }

    #[test]
    fn entry_references_are_recognised() {
        assert!(mentions("foo.bar", "foo"));
        assert!(mentions("length(foo)", "foo"));
        assert!(!mentions("request.foo", "foo"));
        assert!(!mentions("foobar", "foo"));
    }
}
