//! `validate.cel` rules, evaluated as Kubernetes ValidatingAdmissionPolicy expressions would be: any
//! expression that is not `true` (including one that fails to evaluate) fails the rule.
use super::{Evaluation, Operation, Response, Status};
use crate::cel::{Activation, Val};
use crate::policy::ValidationBody;
use serde_json::{Value, json};
use std::collections::HashMap;

fn activation_vars(ev: &Evaluation<'_, '_>) -> HashMap<&'static str, Val> {
    let object = ev.new_object;
    let api = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = match api.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api),
    };
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let user = ev.request.user_info.clone().unwrap_or_default();
    let request = json!({
        "kind": {"group": group, "version": version, "kind": kind},
        "name": object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
        "namespace": object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
        "operation": ev.operation.as_str(),
        "userInfo": {"username": user.username, "uid": user.uid, "groups": user.groups},
        "dryRun": false,
    });
    let mut vars = HashMap::new();
    vars.insert("object", Val::from_json(object));
    vars.insert("oldObject", ev.old_object.map(Val::from_json).unwrap_or(Val::Null));
    vars.insert("request", Val::from_json(&request));
    vars.insert("params", Val::Null);
    vars.insert("namespaceObject", namespace_object(ev, kind));
    vars
}

/// The namespace of a namespaced object, with the labels the request knows (`null` for a Namespace).
fn namespace_object(ev: &Evaluation<'_, '_>, kind: &str) -> Val {
    if kind == "Namespace" {
        return Val::Null;
    }
    if let Some(ns) = &ev.request.namespace_object {
        return Val::from_json(ns);
    }
    let name = ev
        .new_object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    Val::from_json(&json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": ev.request.namespace_labels},
    }))
}

/// Whether every `celPreconditions` expression is true.
pub(crate) fn preconditions_hold(ev: &Evaluation<'_, '_>) -> Result<bool, String> {
    let act = Activation::new(activation_vars(ev), &[]);
    for (name, program) in &ev.rule.cel_preconditions {
        match program.eval(&act) {
            Ok(Val::Bool(true)) => {}
            Ok(Val::Bool(false)) => return Ok(false),
            Ok(other) => {
                return Err(format!("precondition {name:?} did not evaluate to a bool: {}", other.type_name()));
            }
            Err(e) => return Err(format!("precondition {name:?}: {e}")),
        }
    }
    Ok(true)
}

pub(crate) fn evaluate(ev: &mut Evaluation<'_, '_>) -> Option<Response> {
    let rule = ev.rule;
    let validation = rule.validate.as_ref()?;
    let ValidationBody::Cel(cel) = &validation.body else { return None };
    // Context entries and JMESPath preconditions apply to CEL rules too.
    if let Some(r) = super::rule::evaluate_preconditions_only(ev) {
        return Some(r);
    }
    if !rule.cel_preconditions.is_empty() {
        match preconditions_hold(ev) {
            Err(e) => return Some(Response::new(Status::Error, format!("failed to evaluate cel preconditions: {e}"))),
            Ok(false) => return Some(Response::new(Status::Skip, "cel preconditions not met")),
            Ok(true) => {}
        }
    }
    if ev.operation == Operation::Delete {
        return None;
    }
    if cel.has_params {
        return Some(Response::new(
            Status::Error,
            "error in parameterized resource: paramKind needs a cluster to resolve params",
        ));
    }
    let act = Activation::new(activation_vars(ev), &cel.variables);
    for expr in &cel.expressions {
        let source = expr.program.source.trim();
        match expr.program.eval(&act) {
            Ok(Val::Bool(true)) => {}
            Err(e) => {
                return Some(Response::new(Status::Fail, format!("expression '{source}' resulted in error: {e}")));
            }
            Ok(_) => {
                let from_expression = expr.message_expression.as_ref().and_then(|m| match m.eval(&act) {
                    Ok(Val::Str(s)) if !s.trim().is_empty() => Some(s.to_string()),
                    _ => None,
                });
                let message = from_expression
                    .or_else(|| expr.message.clone())
                    .or_else(|| Some(validation.message.clone()).filter(|m| !m.is_empty()))
                    .unwrap_or_else(|| format!("failed expression: {source}"));
                return Some(Response::new(Status::Fail, message));
            }
        }
    }
    Some(Response::new(Status::Pass, format!("Validation rule '{}' passed.", rule.name)))
}
