//! Common Expression Language for `validate.cel` rules: a parser and evaluator written for Kubernetes
//! admission semantics (the variables `object`, `oldObject`, `request`, `params`, `namespaceObject`,
//! `variables`), with the Kubernetes extension libraries the tests use.
mod eval;
mod functions;
mod lexer;
mod parser;
mod value;

pub use eval::{Activation, EvalResult};
pub use value::Val;

use crate::policy::{FieldError, FieldResult, kind_of, obj};
use serde_json::Value;
use std::sync::Arc;

/// A compiled CEL expression.
#[derive(Debug, Clone)]
pub struct Program {
    pub source: String,
    ast: Arc<parser::Ast>,
}

impl Program {
    pub fn compile(source: &str) -> Result<Program, String> {
        let ast = parser::parse(source).map_err(|e| format!("compilation failed: {e}"))?;
        Ok(Program { source: source.to_string(), ast: Arc::new(ast) })
    }

    pub fn eval(&self, act: &Activation<'_>) -> EvalResult {
        eval::eval(&self.ast, act)
    }
}

/// One `validate.cel.expressions[]` entry.
#[derive(Debug, Clone)]
pub struct CelExpression {
    pub program: Program,
    pub message: Option<String>,
    pub message_expression: Option<Program>,
}

/// `validate.cel`.
#[derive(Debug, Clone)]
pub struct CelValidation {
    pub expressions: Vec<CelExpression>,
    pub variables: Vec<(String, Program)>,
    pub has_params: bool,
}

fn field_err<T>(field: String, message: impl Into<String>) -> FieldResult<T> {
    Err(FieldError { field, message: message.into() })
}

impl CelValidation {
    pub fn parse(v: &Value, field: &str) -> FieldResult<CelValidation> {
        let m = obj(v, field)?;
        let mut expressions = Vec::new();
        if let Some(items) = m.get("expressions").filter(|v| !v.is_null()) {
            let Value::Array(items) = items else {
                return field_err(format!("{field}.expressions"), format!("expected a list, found {}", kind_of(items)));
            };
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}.expressions[{i}]");
                let e = obj(item, &f)?;
                let Some(Value::String(source)) = e.get("expression") else {
                    return field_err(format!("{f}.expression"), "missing");
                };
                let program = Program::compile(source).or_else(|msg| field_err(format!("{f}.expression"), msg))?;
                let message = e.get("message").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
                let message_expression = match e.get("messageExpression").and_then(Value::as_str) {
                    Some(src) if !src.trim().is_empty() => {
                        Some(Program::compile(src).or_else(|msg| field_err(format!("{f}.messageExpression"), msg))?)
                    }
                    _ => None,
                };
                expressions.push(CelExpression { program, message, message_expression });
            }
        }
        let mut variables = Vec::new();
        if let Some(Value::Array(items)) = m.get("variables") {
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}.variables[{i}]");
                let e = obj(item, &f)?;
                let name = e.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                let Some(Value::String(source)) = e.get("expression") else {
                    return field_err(format!("{f}.expression"), "missing");
                };
                let program = Program::compile(source).or_else(|msg| field_err(format!("{f}.expression"), msg))?;
                variables.push((name, program));
            }
        }
        let has_params = m.get("paramKind").is_some_and(|p| !p.is_null());
        Ok(CelValidation { expressions, variables, has_params })
    }
}

#[cfg(test)]
mod tests;
