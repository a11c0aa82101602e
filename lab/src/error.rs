//! Errors of the lab. Store and API errors carry what a Kubernetes API server would answer, so the
//! HTTP layer turns each one into a `Status` object with the same code, reason and message.
use serde_json::{Value, json};
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field-level problem of an invalid object (`Status.details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, ...
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn required(field: impl Into<String>) -> Self {
        Self { reason: "FieldValueRequired", field: field.into(), message: "Required value".into() }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { reason: "FieldValueInvalid", field: field.into(), message: message.into() }
    }
}

#[derive(Debug, Error)]
pub enum Error {
    /// 404: `pods "x" not found`.
    #[error("{} \"{name}\" not found", qualified(.resource, .group))]
    NotFound { resource: String, group: String, name: String },
    /// 404 for a path the server does not serve.
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// 409: `pods "x" already exists`.
    #[error("{} \"{name}\" already exists", qualified(.resource, .group))]
    AlreadyExists { resource: String, group: String, name: String },
    /// 409: optimistic concurrency failed.
    #[error("Operation cannot be fulfilled on {} \"{name}\": {message}", qualified(.resource, .group))]
    Conflict { resource: String, group: String, name: String, message: String },
    /// 422: the object fails validation.
    #[error("{} \"{name}\" is invalid: {}", qualified(.kind, .group), summary(.causes))]
    Invalid { kind: String, group: String, name: String, causes: Vec<Cause> },
    /// 400: the request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 410: the requested resourceVersion is older than the watch history kept.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    /// 405: the verb is not supported on this resource.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 415: a patch type the server does not accept.
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// 429: an eviction that a PodDisruptionBudget would refuse, or too many requests.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: something the lab did not expect.
    #[error("{0}")]
    Internal(String),
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("starting the lab's API server: {0}")]
    Server(String),
    #[error("parsing YAML document {document}: {message}")]
    Yaml { document: usize, message: String },
}

/// `pods`, `deployments.apps`: how the API server names a resource (or kind) in messages.
fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() { name.to_string() } else { format!("{name}.{group}") }
}

fn summary(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| if c.field.is_empty() { c.message.clone() } else { format!("{}: {}", c.field, c.message) })
        .collect();
    if parts.len() == 1 { parts[0].clone() } else { format!("[{}]", parts.join(", ")) }
}

impl Error {
    /// The HTTP status code a Kubernetes API server answers with.
    pub fn code(&self) -> u16 {
        match self {
            Error::NotFound { .. } | Error::NoSuchResource => 404,
            Error::AlreadyExists { .. } | Error::Conflict { .. } => 409,
            Error::Invalid { .. } => 422,
            Error::BadRequest(_) | Error::Yaml { .. } => 400,
            Error::Gone { .. } => 410,
            Error::MethodNotAllowed => 405,
            Error::UnsupportedMediaType(_) => 415,
            Error::TooManyRequests(_) => 429,
            Error::Internal(_) | Error::Io { .. } | Error::Server(_) => 500,
        }
    }

    /// The `Status.reason` of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotFound { .. } | Error::NoSuchResource => "NotFound",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::Conflict { .. } => "Conflict",
            Error::Invalid { .. } => "Invalid",
            Error::BadRequest(_) | Error::Yaml { .. } => "BadRequest",
            Error::Gone { .. } => "Expired",
            Error::MethodNotAllowed => "MethodNotAllowed",
            Error::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Error::TooManyRequests(_) => "TooManyRequests",
            Error::Internal(_) | Error::Io { .. } | Error::Server(_) => "InternalError",
        }
    }

    /// A short stable label for counting errors by kind.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NotFound { .. } | Error::NoSuchResource => "not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Conflict { .. } => "conflict",
            Error::Invalid { .. } => "invalid",
            Error::BadRequest(_) => "bad_request",
            Error::Gone { .. } => "gone",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::TooManyRequests(_) => "too_many_requests",
            Error::Internal(_) => "internal",
            Error::Io { .. } => "io",
            Error::Server(_) => "server",
            Error::Yaml { .. } => "yaml",
        }
    }

    /// The `meta.k8s.io/v1 Status` object an API server answers with for this error.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        match self {
            Error::NotFound { resource, group, name }
            | Error::AlreadyExists { resource, group, name }
            | Error::Conflict { resource, group, name, .. } => {
                details.insert("name".into(), json!(name));
                if !group.is_empty() {
                    details.insert("group".into(), json!(group));
                }
                details.insert("kind".into(), json!(resource));
            }
            Error::Invalid { kind, group, name, causes } => {
                details.insert("name".into(), json!(name));
                if !group.is_empty() {
                    details.insert("group".into(), json!(group));
                }
                details.insert("kind".into(), json!(kind));
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".into(), Value::Array(causes));
            }
            _ => {}
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }

    pub(crate) fn not_found(kind: crate::store::Kind, name: &str) -> Self {
        Error::NotFound { resource: kind.plural().into(), group: kind.group().into(), name: name.into() }
    }

    pub(crate) fn already_exists(kind: crate::store::Kind, name: &str) -> Self {
        Error::AlreadyExists { resource: kind.plural().into(), group: kind.group().into(), name: name.into() }
    }

    pub(crate) fn conflict(kind: crate::store::Kind, name: &str, message: impl Into<String>) -> Self {
        Error::Conflict {
            resource: kind.plural().into(),
            group: kind.group().into(),
            name: name.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(kind: crate::store::Kind, name: &str, causes: Vec<Cause>) -> Self {
        Error::Invalid { kind: kind.kind().into(), group: kind.group().into(), name: name.into(), causes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Kind;

    #[test]
    fn statuses_look_like_the_api_servers() {
        let status = Error::not_found(Kind::Pod, "x").to_status();
        assert_eq!(status["code"], 404);
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["message"], "pods \"x\" not found");
        assert_eq!(status["details"], json!({"name": "x", "kind": "pods"}));

        let conflict = Error::conflict(
            Kind::Deployment,
            "web",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
        assert_eq!(conflict.code(), 409);
        assert_eq!(
            conflict.to_string(),
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please \
             apply your changes to the latest version and try again"
        );

        let invalid = Error::invalid(Kind::Pod, "x", vec![Cause::required("spec.containers")]);
        let status = invalid.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["message"], "Pod \"x\" is invalid: spec.containers: Required value");
        assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(status["details"]["causes"][0]["field"], "spec.containers");
    }
}
