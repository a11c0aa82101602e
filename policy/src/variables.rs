//! Variable substitution (`{{ expr }}`) and references (`$(path)`) in policy documents, as Kyverno's
//! `variables.SubstituteAll` does it: leaves and map keys are substituted; a string that is exactly one
//! variable takes the variable's JSON type, otherwise the value is embedded as text (JSON for non-strings);
//! nested variables are resolved innermost first; `\{{` escapes.
use crate::context::{Context, QueryError};
use crate::pattern::{anchor, scalar};
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;

static VARIABLES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})").expect("valid regex"));
static VARIABLE_INIT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\{\{(\{[^{}]*\}|[^{}])*\}\}").expect("valid regex"));
static ESCAPED_VARIABLES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\\\{\{(\{[^{}]*\}|[^{}])*\}\}").expect("valid regex"));
static REFERENCES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\$\(.[^ ]*\)|[^\\]\$\(.[^ ]*\)").expect("valid regex"));
static ESCAPED_REFERENCES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\\\$\(.[^ ]*\)").expect("valid regex"));

/// Why substitution failed.
#[derive(Debug, Clone, PartialEq)]
pub struct SubstError {
    pub message: String,
    /// The failure was a missing key (Kyverno's `NotFoundError`), which some callers treat specially.
    pub not_found: bool,
}

impl std::fmt::Display for SubstError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether `s` holds a variable or a reference.
pub fn has_variables(s: &str) -> bool {
    s.contains("{{") || s.contains("$(")
}

/// Whether any string (leaf or key) of `v` holds a variable or a reference.
pub fn document_has_variables(v: &Value) -> bool {
    match v {
        Value::String(s) => has_variables(s),
        Value::Array(items) => items.iter().any(document_has_variables),
        Value::Object(m) => m.iter().any(|(k, v)| has_variables(k) || document_has_variables(v)),
        _ => false,
    }
}

/// The JMESPath texts of the variables in `s` (innermost first, braces removed).
pub fn variable_expressions(s: &str) -> Vec<String> {
    VARIABLES
        .find_iter(s)
        .map(|m| {
            let inner = strip_braces(m.as_str().trim_start_matches(|c| c != '{'));
            match inner.strip_prefix('-') {
                Some(rest) => rest.trim_start().to_string(),
                None => inner,
            }
        })
        .collect()
}

/// Substitutes references then variables in a whole document.
pub fn substitute_all(ctx: &mut Context<'_>, document: &Value) -> Result<Value, SubstError> {
    if !document_has_variables(document) {
        return Ok(document.clone());
    }
    let with_refs = substitute_references(document)?;
    let mut path = Vec::new();
    substitute_vars(ctx, &with_refs, &mut path)
}

/// Substitutes variables in one string (which may resolve to any JSON value).
pub fn substitute_string(ctx: &mut Context<'_>, s: &str) -> Result<Value, SubstError> {
    if !has_variables(s) {
        return Ok(Value::String(s.to_string()));
    }
    substitute_all(ctx, &Value::String(s.to_string()))
}

fn substitute_vars(ctx: &mut Context<'_>, v: &Value, path: &mut Vec<String>) -> Result<Value, SubstError> {
    match v {
        Value::String(s) => substitute_leaf(ctx, s, path),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                let r = substitute_vars(ctx, item, path);
                path.pop();
                out.push(r?);
            }
            Ok(Value::Array(out))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, item) in m {
                let key = if has_variables(k) {
                    match substitute_leaf(ctx, k, path)? {
                        Value::String(s) => s,
                        other => crate::gofmt::json_marshal(&other),
                    }
                } else {
                    k.clone()
                };
                path.push(k.clone());
                let r = substitute_vars(ctx, item, path);
                path.pop();
                out.insert(key, r?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn strip_braces(v: &str) -> String {
    v.replace("{{", "").replace("}}", "").trim().to_string()
}

fn is_delete(ctx: &Context<'_>) -> bool {
    ctx.get_path("request.operation").and_then(Value::as_str) == Some("DELETE")
}

fn json_path(path: &[String]) -> String {
    format!("/{}", path.join("/"))
}

/// The JMESPath for `{{@}}`: the current pattern path under `request.object`.
fn at_path(path: &[String]) -> String {
    let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(pos) = parts.iter().rposition(|p| *p == "foreach") {
        parts.drain(..=pos);
    }
    let skipped: Vec<&str> = parts.into_iter().skip(2).collect();
    let mut out = String::from("request.object");
    for p in skipped {
        let key = anchor::parse(p).map(|a| a.key).unwrap_or(p);
        if key.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{key}]"));
        } else {
            out.push_str(&format!(".\"{key}\""));
        }
    }
    out
}

fn substitute_leaf(ctx: &mut Context<'_>, original: &str, path: &[String]) -> Result<Value, SubstError> {
    if !original.contains("{{") {
        return Ok(Value::String(unescape(original)));
    }
    let delete = is_delete(ctx);
    let mut value = original.to_string();
    let mut vars: Vec<String> = VARIABLES.find_iter(&value).map(|m| m.as_str().to_string()).collect();
    let mut guard = 0;
    while !vars.is_empty() {
        guard += 1;
        if guard > 64 {
            return Err(SubstError {
                message: format!("variable substitution did not converge for {original:?}"),
                not_found: false,
            });
        }
        let original_pattern = value.clone();
        for old in &vars {
            let initial = VARIABLE_INIT.is_match(old);
            let (prefix, var) =
                if initial { ("", old.as_str()) } else { old.split_at(old.chars().next().map_or(0, char::len_utf8)) };
            let mut variable = strip_braces(var);
            // `{{- expr}}`: shallow substitution, the result is not substituted again.
            let shallow = variable.starts_with('-');
            if shallow {
                variable = variable[1..].trim_start().to_string();
            }
            if variable == "@" {
                variable = at_path(path);
            }
            if delete {
                variable = variable.replace("request.object", "request.oldObject");
            }
            let resolved = ctx.query(&variable).map_err(|e| match e {
                QueryError::NotFound(key) => SubstError {
                    message: format!(
                        "failed to resolve {variable} at path {}: JMESPath query failed: Unknown key \"{key}\" in path",
                        json_path(path)
                    ),
                    not_found: true,
                },
                other => SubstError {
                    message: format!("failed to resolve {variable} at path {}: {other}", json_path(path)),
                    not_found: false,
                },
            })?;
            if original_pattern == var {
                return Ok(resolved);
            }
            let mut text = match &resolved {
                Value::String(s) => s.clone(),
                other => crate::gofmt::json_marshal(other),
            };
            if shallow {
                text = text.replace("{{", "\\{{");
            }
            value = original_pattern.replacen(&format!("{prefix}{var}"), &format!("{prefix}{text}"), 1);
        }
        vars = VARIABLES.find_iter(&value).map(|m| m.as_str().to_string()).collect();
    }
    Ok(Value::String(unescape(&value)))
}

fn unescape(value: &str) -> String {
    if !value.contains('\\') {
        return value.to_string();
    }
    let mut out = value.to_string();
    for m in ESCAPED_VARIABLES.find_iter(value) {
        let v = m.as_str();
        out = out.replace(v, &v[1..]);
    }
    out
}

fn substitute_references(document: &Value) -> Result<Value, SubstError> {
    if !document_has_references(document) {
        return Ok(document.clone());
    }
    let mut path = Vec::new();
    refs_walk(document, document, &mut path)
}

fn document_has_references(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("$("),
        Value::Array(items) => items.iter().any(document_has_references),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains("$(") || document_has_references(v)),
        _ => false,
    }
}

fn refs_walk(full: &Value, v: &Value, path: &mut Vec<String>) -> Result<Value, SubstError> {
    match v {
        Value::String(s) => refs_leaf(full, s, path).map(Value::String),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                let r = refs_walk(full, item, path);
                path.pop();
                out.push(r?);
            }
            Ok(Value::Array(out))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, item) in m {
                path.push(k.clone());
                let key = refs_leaf(full, k, path);
                let r = refs_walk(full, item, path);
                path.pop();
                out.insert(key?, r?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn refs_leaf(full: &Value, s: &str, path: &[String]) -> Result<String, SubstError> {
    if !s.contains("$(") {
        return Ok(s.to_string());
    }
    let mut value = s.to_string();
    for m in REFERENCES.find_iter(s) {
        let old = m.as_str();
        let initial = old.starts_with("$(");
        let reference = if initial { old } else { &old[1..] };
        let here = json_path(path);
        let resolved = resolve_reference(full, reference, &here)?;
        let Value::String(text) = resolved else {
            return Err(SubstError {
                message: format!("NotResolvedReferenceErr,reference {reference} not resolved at path {here}"),
                not_found: false,
            });
        };
        let replacement = if initial { text } else { format!("{}{text}", &old[..1]) };
        value = value.replacen(old, &replacement, 1);
    }
    for m in ESCAPED_REFERENCES.find_iter(&value.clone()) {
        let v = m.as_str();
        value = value.replace(v, &v[1..]);
    }
    Ok(value)
}

fn resolve_reference(full: &Value, reference: &str, absolute: &str) -> Result<Value, SubstError> {
    let trimmed = reference.trim_matches(|c| c == '$' || c == '(' || c == ')');
    let op = scalar::operator_of(trimmed);
    let op_text = match op {
        scalar::Op::MoreEqual => ">=",
        scalar::Op::LessEqual => "<=",
        scalar::Op::NotEqual => "!",
        scalar::Op::More => ">",
        scalar::Op::Less => "<",
        _ => "",
    };
    let rel = &trimmed[op_text.len()..];
    if rel.is_empty() {
        return Err(SubstError { message: "expected path, found empty reference".into(), not_found: false });
    }
    let target = if rel.starts_with('/') { clean(rel) } else { clean(&format!("{absolute}/{rel}")) };
    let found = find_by_path(full, &target, &mut Vec::new()).cloned().unwrap_or(Value::Null);
    if op_text.is_empty() {
        return Ok(found);
    }
    let text = match &found {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => crate::gofmt::format_f6(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(SubstError {
                message: format!(
                    "incorrect expression: operator {op_text} does not match with value {}",
                    crate::gofmt::sprint(other)
                ),
                not_found: false,
            });
        }
    };
    Ok(Value::String(format!("{op_text}{text}")))
}

fn clean(p: &str) -> String {
    crate::jmespath::clean_path(p)
}

fn find_by_path<'a>(v: &'a Value, target: &str, path: &mut Vec<String>) -> Option<&'a Value> {
    let here =
        format!("/{}", path.iter().map(|p| anchor::parse(p).map(|a| a.key).unwrap_or(p)).collect::<Vec<_>>().join("/"));
    if here == target {
        return Some(v);
    }
    match v {
        Value::Object(m) => {
            for (k, item) in m {
                path.push(k.clone());
                let r = find_by_path(item, target, path);
                path.pop();
                if r.is_some() {
                    return r;
                }
            }
            None
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                let r = find_by_path(item, target, path);
                path.pop();
                if r.is_some() {
                    return r;
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ExprCache;
    use serde_json::json;

    fn ctx(cache: &ExprCache) -> Context<'_> {
        let mut root = Map::new();
        root.insert(
            "request".into(),
            json!({"operation": "CREATE", "object": {"metadata": {"name": "web", "labels": {"app": "a"}}, "spec": {"replicas": 3}}}),
        );
        root.insert("cert".into(), json!("abc"));
        Context::new(root, cache)
    }

    #[test]
    fn substitution_table() {
        let cache = ExprCache::new();
        let cases: Vec<(Value, Value)> = vec![
            (json!("{{ request.object.metadata.name }}"), json!("web")),
            (json!("{{request.object.spec.replicas}}"), json!(3)),
            (json!("name-{{ request.object.metadata.name }}"), json!("name-web")),
            (json!("r={{request.object.spec.replicas}}"), json!("r=3")),
            (json!("{{ request.object.metadata.labels }}"), json!({"app": "a"})),
            (json!("l={{ request.object.metadata.labels }}"), json!("l={\"app\":\"a\"}")),
            (json!("{{a}}{{b}}x"), json!("{{a}}{{b}}x")),
            (json!("\\{{ request.object.metadata.name }}"), json!("{{ request.object.metadata.name }}")),
            (json!("{{ to_upper('{{cert}}') }}"), json!("ABC")),
            (
                json!({"{{ request.object.metadata.name }}": "{{ request.object.metadata.labels.app }}"}),
                json!({"web": "a"}),
            ),
            (json!({"spec": {"x": "$(./../y)", "y": "v"}}), json!({"spec": {"x": "v", "y": "v"}})),
            (json!({"a": ">$(../b)", "b": "3"}), json!({"a": ">3", "b": "3"})),
        ];
        for (input, want) in cases {
            let mut c = ctx(&cache);
            if input == json!("{{a}}{{b}}x") {
                c.set("a", json!("1"));
                c.set("b", json!("2"));
                assert_eq!(substitute_all(&mut c, &input).unwrap(), json!("12x"));
                continue;
            }
            assert_eq!(substitute_all(&mut c, &input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn shallow_substitution_keeps_nested_variables() {
        let cache = ExprCache::new();
        let mut c = ctx(&cache);
        c.set("tpl", json!("{{ request.object.metadata.name }}"));
        // Deep (default): the substituted text is substituted again.
        assert_eq!(substitute_all(&mut c, &json!("x-{{ tpl }}")).unwrap(), json!("x-web"));
        // Shallow: the text stays as it came out of the context.
        assert_eq!(
            substitute_all(&mut c, &json!("x-{{- tpl }}")).unwrap(),
            json!("x-{{ request.object.metadata.name }}")
        );
        assert_eq!(substitute_all(&mut c, &json!("{{- tpl }}")).unwrap(), json!("{{ request.object.metadata.name }}"));
        assert_eq!(variable_expressions("a {{- tpl }} b {{x}}"), vec!["tpl".to_string(), "x".to_string()]);
    }

    #[test]
    fn missing_keys_are_reported_as_not_found() {
        let cache = ExprCache::new();
        let mut c = ctx(&cache);
        let err = substitute_all(&mut c, &json!("{{ request.object.metadata.labels.team }}")).unwrap_err();
        assert!(err.not_found, "{err}");
        let ok = substitute_all(&mut c, &json!("{{ request.object.metadata.labels.team || 'none' }}")).unwrap();
        assert_eq!(ok, json!("none"));
    }
}
