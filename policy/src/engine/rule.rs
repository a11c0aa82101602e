//! The resource handler of a validate rule (Kyverno's validate_resource.go): context entries,
//! preconditions, then `deny`, `pattern` / `anyPattern` or `foreach`, with Kyverno's messages.
use super::{Evaluation, Operation, Response, Status};
use crate::conditions;
use crate::pattern::{PatternError, match_pattern};
use crate::policy::{Condition, Conditions, ContextEntry, ForEach, ValidationBody};
use crate::variables::{self, has_variables};
use serde_json::Value;
use std::borrow::Cow;

pub(crate) fn evaluate(ev: &mut Evaluation<'_, '_>) -> Option<Response> {
    let rule = ev.rule;
    let validation = rule.validate.as_ref()?;
    load_context(ev, &rule.context, None);
    if let Some(pre) = &rule.preconditions {
        match check_conditions(ev, pre) {
            Err(e) => return Some(Response::new(Status::Error, format!("failed to evaluate preconditions: {e}"))),
            Ok((false, msg)) => {
                return Some(Response::new(Status::Skip, join_non_empty(&["preconditions not met", &msg], "; ")));
            }
            Ok((true, _)) => {}
        }
    }
    if let Some(skip) = exception_skip(ev) {
        return Some(skip);
    }
    if !rule.cel_preconditions.is_empty() {
        match super::cel_rule::preconditions_hold(ev) {
            Err(e) => return Some(Response::new(Status::Error, format!("failed to evaluate cel preconditions: {e}"))),
            Ok(false) => return Some(Response::new(Status::Skip, "cel preconditions not met")),
            Ok(true) => {}
        }
    }
    match &validation.body {
        ValidationBody::Unsupported(what) => {
            Some(Response::new(Status::Error, format!("validate.{what} is not supported by medic's policy engine")))
        }
        ValidationBody::Empty | ValidationBody::Cel(_) => None,
        body => validate_body(ev, body, None, 0, true),
    }
}

pub(crate) fn join_non_empty(parts: &[&str], sep: &str) -> String {
    parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(sep)
}

/// Numbers from JMESPath results are Go float64s; patterns compare them as such.
fn to_go_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) if !n.is_f64() => {
            serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0)).map(Value::Number).unwrap_or(Value::Null)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_go_floats).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_go_floats(v))).collect()),
        other => other.clone(),
    }
}

fn inject(ev: &mut Evaluation<'_, '_>, foreach_index: Option<usize>) {
    let rule_values = ev.values.rule_values(&ev.policy.name, &ev.rule.name);
    let foreach_values = match foreach_index {
        Some(i) => ev.values.foreach_values(&ev.policy.name, &ev.rule.name, i),
        None => Vec::new(),
    };
    if rule_values.is_empty() && foreach_values.is_empty() {
        return;
    }
    let ctx = ev.ctx();
    for (k, v) in rule_values.into_iter().chain(foreach_values) {
        ctx.add_variable(&k, v);
    }
}

/// Loads context entries. A `variable` entry that fails is recorded; only queries that use it fail
/// (Kyverno loads entries lazily). Entries that need the cluster are left to injected values.
fn load_context(ev: &mut Evaluation<'_, '_>, entries: &[ContextEntry], foreach_index: Option<usize>) {
    inject(ev, foreach_index);
    for entry in entries {
        let ContextEntry::Variable { name, value, jmes_path, default } = entry else { continue };
        match load_variable(ev, name, value.as_ref(), jmes_path.as_deref(), default.as_ref()) {
            Ok(v) => ev.ctx().set(name, v),
            Err(e) => ev.ctx().mark_failed(name, e),
        }
    }
}

fn load_variable(
    ev: &mut Evaluation<'_, '_>,
    name: &str,
    value: Option<&Value>,
    jmes_path: Option<&str>,
    default: Option<&Value>,
) -> Result<Value, String> {
    let ctx = ev.ctx();
    let path = match jmes_path.filter(|p| !p.is_empty()) {
        Some(p) => match variables::substitute_string(ctx, p) {
            Ok(Value::String(s)) => s,
            Ok(other) => crate::gofmt::json_marshal(&other),
            Err(e) => return Err(format!("failed to substitute variables in context entry {name} {p}: {e}")),
        },
        None => String::new(),
    };
    let default_value = match default {
        Some(d) => Some(
            variables::substitute_all(ctx, d)
                .map_err(|e| format!("failed to substitute variables in context entry {name}: {e}"))?,
        )
        .filter(|v| !v.is_null()),
        None => None,
    };
    let mut output = default_value.clone();
    if let Some(value) = value {
        let substituted = variables::substitute_all(ctx, value)
            .map_err(|e| format!("failed to substitute variables in context entry {name}: {e}"))?;
        if !path.is_empty() {
            match ctx.query_value(&path, &substituted) {
                Ok(v) => output = Some(v),
                Err(e) if default_value.is_none() => {
                    return Err(format!("failed to apply jmespath {path} to variable: {e}"));
                }
                Err(_) => {}
            }
        } else {
            output = Some(substituted);
        }
    } else if !path.is_empty() {
        match ctx.query(&path) {
            Ok(v) if !v.is_null() => output = Some(v),
            Ok(_) => {}
            Err(e) if default_value.is_none() => {
                return Err(format!("failed to apply jmespath {path} to variable: {e}"));
            }
            Err(_) => {}
        }
    }
    match output {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(format!("failed to add context entry for variable {name} since it evaluated to nil")),
    }
}

fn eval_condition(ev: &mut Evaluation<'_, '_>, c: &Condition) -> Result<(bool, String), String> {
    let ctx = ev.ctx();
    let key = variables::substitute_all(ctx, &c.key)
        .map_err(|e| format!("failed to substitute variables in condition key: {e}"))?;
    let value = variables::substitute_all(ctx, &c.value)
        .map_err(|e| format!("failed to substitute variables in condition value: {e}"))?;
    Ok((conditions::evaluate(c.operator, &key, &value), c.message.clone()))
}

/// Evaluates conditions; returns the result and the messages of the deciding conditions.
fn check_conditions(ev: &mut Evaluation<'_, '_>, conds: &Conditions) -> Result<(bool, String), String> {
    match conds {
        Conditions::List(list) => {
            let mut true_msgs = Vec::new();
            for c in list {
                let (ok, msg) = eval_condition(ev, c)?;
                if !ok {
                    return Ok((false, msg));
                }
                true_msgs.push(msg);
            }
            Ok((true, join_non_empty(&true_msgs.iter().map(String::as_str).collect::<Vec<_>>(), ";")))
        }
        Conditions::AnyAll { any, all } => {
            let (mut any_ok, mut all_ok) = (true, true);
            let (mut true_msgs, mut false_msgs) = (Vec::new(), Vec::new());
            if let Some(any) = any {
                any_ok = false;
                for c in any {
                    let (ok, msg) = eval_condition(ev, c)?;
                    if ok {
                        any_ok = true;
                        true_msgs.push(msg);
                        break;
                    }
                    false_msgs.push(msg);
                }
            }
            for c in all {
                let (ok, msg) = eval_condition(ev, c)?;
                if !ok {
                    all_ok = false;
                    false_msgs.push(msg);
                    break;
                }
                true_msgs.push(msg);
            }
            let result = any_ok && all_ok;
            let msgs = if result { true_msgs } else { false_msgs };
            Ok((result, join_non_empty(&msgs.iter().map(String::as_str).collect::<Vec<_>>(), "; ")))
        }
    }
}

fn substitute_message(ev: &mut Evaluation<'_, '_>, msg: &str) -> Result<String, String> {
    if !has_variables(msg) {
        return Ok(msg.to_string());
    }
    match variables::substitute_string(ev.ctx(), msg) {
        Ok(Value::String(s)) => Ok(s),
        Ok(_) => Err("the produced message didn't resolve to a string, check your policy definition.".into()),
        Err(e) => Err(e.message),
    }
}

fn deny(ev: &mut Evaluation<'_, '_>, conds: Option<&Conditions>) -> Response {
    let result = match conds {
        Some(c) => check_conditions(ev, c),
        None => Ok((true, String::new())),
    };
    match result {
        Err(e) => Response::new(Status::Error, format!("failed to check deny conditions: {e}")),
        Ok((false, _)) => Response::new(Status::Pass, format!("validation rule '{}' passed.", ev.rule.name)),
        Ok((true, msg)) => {
            let rule_msg = ev.rule.validate.as_ref().map(|v| v.message.as_str()).unwrap_or("");
            if rule_msg.is_empty() && msg.is_empty() {
                return Response::new(Status::Fail, format!("validation error: rule {} failed", ev.rule.name));
            }
            let text = join_non_empty(&[rule_msg, &msg], "; ");
            let message = match substitute_message(ev, &text) {
                Ok(m) => m,
                Err(e) if e.starts_with("the produced message") => e,
                Err(_) => msg,
            };
            Response::new(Status::Fail, message)
        }
    }
}

fn error_message(ev: &mut Evaluation<'_, '_>, err: &str, path: &str) -> String {
    let name = ev.rule.name.clone();
    let rule_msg = ev.rule.validate.as_ref().map(|v| v.message.clone()).unwrap_or_default();
    if rule_msg.is_empty() {
        return if path.is_empty() {
            format!("validation error: rule {name} execution error: {err}")
        } else {
            format!("validation error: rule {name} failed at path {path}")
        };
    }
    match substitute_message(ev, &rule_msg) {
        Err(_) => format!("validation error: variables substitution error in rule {name} execution error: {err}"),
        Ok(mut msg) => {
            if !msg.ends_with('.') {
                msg.push('.');
            }
            if path.is_empty() {
                format!("validation error: {msg} rule {name} execution error: {err}")
            } else {
                format!("validation error: {msg} rule {name} failed at path {path}")
            }
        }
    }
}

fn substitute_pattern<'v>(ev: &mut Evaluation<'_, '_>, pattern: &'v Value) -> Result<Cow<'v, Value>, String> {
    if !variables::document_has_variables(pattern) {
        return Ok(Cow::Borrowed(pattern));
    }
    variables::substitute_all(ev.ctx(), pattern).map(Cow::Owned).map_err(|e| e.message)
}

fn validate_patterns(ev: &mut Evaluation<'_, '_>, body: &ValidationBody, resource: &Value) -> Response {
    let name = ev.rule.name.clone();
    match body {
        ValidationBody::Pattern(pattern) => {
            let pattern = match substitute_pattern(ev, pattern) {
                Ok(p) => p,
                Err(e) => return Response::new(Status::Error, format!("variable substitution failed: {e}")),
            };
            match match_pattern(resource, &pattern) {
                Ok(()) => Response::new(Status::Pass, format!("validation rule '{name}' passed.")),
                Err(PatternError { skip: true, message, .. }) => Response::new(Status::Skip, message),
                Err(PatternError { message, path, .. }) if path.is_empty() => {
                    Response::new(Status::Error, error_message(ev, &message, ""))
                }
                Err(PatternError { message, path, .. }) => {
                    Response::new(Status::Fail, error_message(ev, &message, &path))
                }
            }
        }
        ValidationBody::AnyPattern(patterns) => {
            let patterns = match substitute_pattern(ev, patterns) {
                Ok(p) => p,
                Err(e) => return Response::new(Status::Error, format!("variable substitution failed: {e}")),
            };
            let Value::Array(patterns) = patterns.as_ref() else {
                return Response::new(Status::Error, "failed to deserialize anyPattern, expected type array");
            };
            let (mut skipped, mut failed) = (Vec::new(), Vec::new());
            for (idx, pattern) in patterns.iter().enumerate() {
                match match_pattern(resource, pattern) {
                    Ok(()) => {
                        return Response::new(
                            Status::Pass,
                            format!("validation rule '{name}' anyPattern[{idx}] passed."),
                        );
                    }
                    Err(e) if e.skip => skipped.push(format!("rule {name}[{idx}] skipped: {}", e.message)),
                    Err(e) if e.path.is_empty() => failed.push(format!("rule {name}[{idx}] failed: {}", e.message)),
                    Err(e) => failed.push(format!("rule {name}[{idx}] failed at path {}", e.path)),
                }
            }
            if !skipped.is_empty() && failed.is_empty() {
                return Response::new(Status::Skip, skipped.join(" "));
            }
            if !failed.is_empty() {
                let errors = failed.join(" ");
                let rule_msg = ev.rule.validate.as_ref().map(|v| v.message.clone()).unwrap_or_default();
                let message = if rule_msg.is_empty() {
                    format!("validation error: {errors}")
                } else if rule_msg.ends_with('.') {
                    format!("validation error: {rule_msg} {errors}")
                } else {
                    format!("validation error: {rule_msg}. {errors}")
                };
                return Response::new(Status::Fail, message);
            }
            let rule_msg = ev.rule.validate.as_ref().map(|v| v.message.clone()).unwrap_or_default();
            Response::new(Status::Pass, rule_msg)
        }
        _ => Response::new(Status::Error, "invalid validation rule"),
    }
}

/// Validates the old object the same way; an unchanged failure on UPDATE is not reported again.
fn old_object_response(ev: &mut Evaluation<'_, '_>, body: &ValidationBody) -> Option<Response> {
    let old = ev.old_object?;
    let needs_context = ev.rule.preconditions.is_some()
        || matches!(body, ValidationBody::Pattern(p) | ValidationBody::AnyPattern(p) if variables::document_has_variables(p))
        || ev.rule.validate.as_ref().is_some_and(|v| has_variables(&v.message));
    let saved = ev.ctx.take();
    if needs_context {
        ev.ctx = ev.old_context();
        inject(ev, None);
    }
    let response = (|| {
        if let Some(pre) = &ev.rule.preconditions {
            match check_conditions(ev, pre) {
                Err(e) => return Response::new(Status::Error, format!("failed to evaluate preconditions: {e}")),
                Ok((false, msg)) => {
                    return Response::new(Status::Skip, join_non_empty(&["preconditions not met", &msg], "; "));
                }
                Ok((true, _)) => {}
            }
        }
        validate_patterns(ev, body, old)
    })();
    ev.ctx = saved;
    Some(response)
}

fn validate_body(
    ev: &mut Evaluation<'_, '_>,
    body: &ValidationBody,
    element: Option<&Value>,
    nesting: usize,
    top_level: bool,
) -> Option<Response> {
    match body {
        ValidationBody::Deny(conds) => Some(deny(ev, conds.as_ref())),
        ValidationBody::Pattern(_) | ValidationBody::AnyPattern(_) => {
            let response = match element {
                Some(el) => validate_patterns(ev, body, el),
                None if ev.operation == Operation::Delete => return None,
                None => {
                    let resource = ev.new_object;
                    validate_patterns(ev, body, resource)
                }
            };
            if top_level
                && element.is_none()
                && ev.operation == Operation::Update
                && let Some(prior) = old_object_response(ev, body)
                && prior == response
            {
                return Some(if response.status == Status::Pass {
                    response
                } else {
                    Response::new(Status::Skip, "skipping modified resource as validation results have not changed")
                });
            }
            Some(response)
        }
        ValidationBody::Foreach(list) => Some(validate_foreach(ev, list, element, nesting)),
        ValidationBody::Empty | ValidationBody::Cel(_) | ValidationBody::Unsupported(_) => None,
    }
}

fn validate_foreach(
    ev: &mut Evaluation<'_, '_>,
    list: &[ForEach],
    element: Option<&Value>,
    nesting: usize,
) -> Response {
    let mut applied = 0usize;
    for fe in list {
        let elements = match ev.ctx().query(&fe.list) {
            Ok(Value::Array(items)) => items,
            Ok(other) => vec![other],
            Err(_) => continue,
        };
        let (response, count) = validate_elements(ev, fe, &elements, element, nesting);
        if response.status != Status::Pass {
            return response;
        }
        applied += count;
    }
    if applied == 0 {
        return Response::new(Status::Skip, "rule skipped");
    }
    Response::new(Status::Pass, "rule passed")
}

fn validate_elements(
    ev: &mut Evaluation<'_, '_>,
    fe: &ForEach,
    elements: &[Value],
    outer_element: Option<&Value>,
    nesting: usize,
) -> (Response, usize) {
    ev.ctx().checkpoint();
    let mut applied = 0usize;
    let last = elements.len().saturating_sub(1);
    let mut outcome = None;
    for (index, element) in elements.iter().enumerate() {
        if element.is_null() {
            continue;
        }
        ev.ctx().reset();
        {
            let ctx = ev.ctx();
            ctx.set("element", element.clone());
            ctx.set("elementIndex", Value::from(index));
            ctx.set(&format!("element{nesting}"), element.clone());
            ctx.set(&format!("elementIndex{nesting}"), Value::from(index));
        }
        let scoped = match fe.element_scope {
            None => element.is_object(),
            Some(true) if !element.is_object() => {
                outcome = Some(Response::new(
                    Status::Error,
                    "failed to process foreach: cannot use elementScope=true foreach rules for elements that are not maps",
                ));
                break;
            }
            Some(scope) => scope,
        };
        let scoped_element = if scoped { Some(to_go_floats(element)) } else { outer_element.cloned() };
        let r = element_response(ev, fe, scoped_element.as_ref(), nesting, index);
        let Some(r) = r else { continue };
        match r.status {
            Status::Skip => continue,
            Status::Pass => applied += 1,
            Status::Error if index < last => continue,
            status => {
                outcome = Some(Response::new(status, format!("validation failure: {}", r.message)));
                break;
            }
        }
    }
    ev.ctx().restore();
    (outcome.unwrap_or_else(|| Response::new(Status::Pass, "")), applied)
}

fn element_response(
    ev: &mut Evaluation<'_, '_>,
    fe: &ForEach,
    element: Option<&Value>,
    nesting: usize,
    index: usize,
) -> Option<Response> {
    load_context(ev, &fe.context, Some(index));
    if let Some(pre) = &fe.preconditions {
        match check_conditions(ev, pre) {
            Err(e) => return Some(Response::new(Status::Error, format!("failed to evaluate preconditions: {e}"))),
            Ok((false, msg)) => {
                return Some(Response::new(Status::Skip, join_non_empty(&["preconditions not met", &msg], "; ")));
            }
            Ok((true, _)) => {}
        }
    }
    validate_body(ev, &fe.body, element, nesting + 1, false)
}

/// A skip when a PolicyException covers this rule and resource and its conditions hold.
pub(crate) fn exception_skip(ev: &mut Evaluation<'_, '_>) -> Option<Response> {
    let exceptions = ev.exceptions.clone();
    for ex in exceptions {
        let holds = match &ex.conditions {
            None => true,
            Some(c) => matches!(check_conditions(ev, c), Ok((true, _))),
        };
        if holds {
            return Some(Response::new(Status::Skip, format!("rule is skipped due to policy exception {}", ex.name)));
        }
    }
    None
}

/// Context entries and preconditions only (for rules whose body another handler evaluates).
pub(crate) fn evaluate_preconditions_only(ev: &mut Evaluation<'_, '_>) -> Option<Response> {
    let rule = ev.rule;
    load_context(ev, &rule.context, None);
    if let Some(pre) = &rule.preconditions {
        match check_conditions(ev, pre) {
            Err(e) => return Some(Response::new(Status::Error, format!("failed to evaluate preconditions: {e}"))),
            Ok((false, msg)) => {
                return Some(Response::new(Status::Skip, join_non_empty(&["preconditions not met", &msg], "; ")));
            }
            Ok((true, _)) => {}
        }
    }
    exception_skip(ev)
}
