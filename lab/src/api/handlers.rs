//! The verbs on resources: get, list, create, update, patch, delete, deletecollection, and the
//! subresources status, scale, eviction and binding. Watch is in `watch.rs`, logs in `logs.rs`.
use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::patch::{self, PatchType};
use super::path::ResourcePath;
use super::selector::{FieldSelector, LabelSelector};
use super::table::{self, IncludeObject};
use super::{ApiState, response};
use crate::error::{Error, Result};
use crate::store::{DeleteOptions, Kind, Object, Propagation, WriteOptions};

pub type Query = HashMap<String, String>;

pub fn parse_query(request: &HttpRequest) -> Query {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(request.query_string())
        .map(|q| q.into_inner().into_iter().collect())
        .unwrap_or_default()
}

fn write_options(query: &Query) -> WriteOptions {
    WriteOptions { dry_run: query.get("dryRun").is_some_and(|v| v == "All") }
}

/// Label and field selectors of a request, combined.
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub fn from_query(query: &Query) -> Result<Self> {
        let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
            .map_err(|e| Error::BadRequest(format!("unable to parse labelSelector: {e}")))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))
            .map_err(|e| Error::BadRequest(format!("unable to parse fieldSelector: {e}")))?;
        Ok(Self { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches_object(object) && self.fields.matches(object)
    }
}

fn body_json(body: &[u8]) -> Result<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).or_else(|json_error| {
        serde_yaml_ng::from_slice(body)
            .map_err(|_| Error::BadRequest(format!("the request body is not valid JSON: {json_error}")))
    })
}

/// GET of a collection (list; watch goes elsewhere).
pub fn list(state: &ApiState, request: &HttpRequest, target: &ResourcePath, query: &Query) -> Result<HttpResponse> {
    let filter = Filter::from_query(query)?;
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let after = query.get("continue").filter(|c| !c.is_empty()).map(|c| response::parse_continue(c)).transpose()?;
    let (objects, revision, more) =
        state.store.list_page(target.kind, target.namespace.as_deref(), after.as_deref(), limit, |o| {
            filter.is_empty() || filter.matches(&o.value)
        });
    let token = more.map(|key| response::continue_token(&key));
    if response::wants_table(request) {
        let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
        let now = state.store.clock().now();
        let body = table::table_bytes(target.kind, &objects, revision, token.as_deref(), include, now);
        return Ok(HttpResponse::Ok().content_type("application/json").body(body));
    }
    let body = response::list_body(target.kind, &objects, revision, token.as_deref());
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

fn existing(state: &ApiState, target: &ResourcePath, name: &str) -> Result<Object> {
    state.store.get(target.kind, target.namespace.as_deref(), name).ok_or_else(|| Error::not_found(target.kind, name))
}

pub fn get(state: &ApiState, request: &HttpRequest, target: &ResourcePath, name: &str) -> Result<HttpResponse> {
    let object = existing(state, target, name)?;
    if response::wants_table(request) {
        let query = parse_query(request);
        let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
        let now = state.store.clock().now();
        let table =
            table::table(target.kind, std::slice::from_ref(&object), object.resource_version, None, include, now);
        return Ok(response::json(200, &table));
    }
    Ok(response::object(200, &object))
}

/// Check the body's namespace against the path's and fill it in when missing.
fn place(target: &ResourcePath, object: &mut Value) -> Result<()> {
    if !object.is_object() {
        return Err(Error::BadRequest("the request body must be a JSON object".into()));
    }
    if let Some(namespace) = &target.namespace {
        let metadata = object.as_object_mut().and_then(|o| {
            o.entry("metadata").or_insert_with(|| json!({}));
            o.get_mut("metadata").and_then(Value::as_object_mut)
        });
        let Some(metadata) = metadata else { return Err(Error::BadRequest("metadata must be an object".into())) };
        match metadata.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != namespace => {
                return Err(Error::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            _ => {
                metadata.insert("namespace".into(), json!(namespace));
            }
        }
    } else if target.kind.namespaced() {
        return Err(Error::NoSuchResource);
    }
    Ok(())
}

pub fn create(state: &ApiState, target: &ResourcePath, query: &Query, body: &[u8]) -> Result<HttpResponse> {
    let mut object = body_json(body)?;
    place(target, &mut object)?;
    let created = state.store.create_with(target.kind, object, write_options(query))?;
    Ok(response::object(201, &created))
}

pub fn update(state: &ApiState, target: &ResourcePath, name: &str, query: &Query, body: &[u8]) -> Result<HttpResponse> {
    let mut object = body_json(body)?;
    place(target, &mut object)?;
    match object.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != name => {
            return Err(Error::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
        None => object["metadata"]["name"] = json!(name),
    }
    let options = write_options(query);
    let updated = match target.subresource.as_deref() {
        Some("status") => {
            // PUT .../status: the status of the body, everything else as stored.
            let status = object.get("status").cloned();
            let rv = object.pointer("/metadata/resourceVersion").cloned();
            state.store.patch(target.kind, target.namespace.as_deref(), name, true, options, |current| {
                let mut next = current.clone();
                next["status"] = status.unwrap_or(Value::Null);
                if let Some(rv) = rv {
                    next["metadata"]["resourceVersion"] = rv;
                }
                Ok(next)
            })?
        }
        _ => state.store.update_with(target.kind, object, options)?,
    };
    Ok(response::object(200, &updated))
}

pub fn patch(
    state: &ApiState,
    request: &HttpRequest,
    target: &ResourcePath,
    name: &str,
    query: &Query,
    body: &[u8],
) -> Result<HttpResponse> {
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let patch_type = PatchType::from_content_type(content_type)?;
    if patch_type == PatchType::Strategic && !target.kind.supports_strategic_merge() {
        return Err(Error::UnsupportedMediaType(
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
        ));
    }
    let patch_body = body_json(body)?;
    let options = write_options(query);
    let namespace = target.namespace.as_deref();
    if patch_type == PatchType::Apply && state.store.get(target.kind, namespace, name).is_none() {
        let mut object = patch_body;
        place(target, &mut object)?;
        let created = state.store.create_with(target.kind, object, options)?;
        return Ok(response::object(201, &created));
    }
    let status = target.subresource.as_deref() == Some("status");
    let patched = state.store.patch(target.kind, namespace, name, status, options, |current| {
        patch::apply(current, &patch_body, patch_type)
    })?;
    Ok(response::object(200, &patched))
}

fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions> {
    let body = body_json(body)?;
    let text =
        |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string).or_else(|| query.get(key).cloned());
    let grace = body
        .get("gracePeriodSeconds")
        .and_then(Value::as_i64)
        .or_else(|| query.get("gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let propagation = match text("propagationPolicy") {
        Some(policy) => Some(Propagation::parse(&policy)?),
        None => match body.get("orphanDependents").and_then(Value::as_bool) {
            Some(true) => Some(Propagation::Orphan),
            _ => None,
        },
    };
    let dry_run = body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"))
        || query.get("dryRun").is_some_and(|v| v == "All");
    Ok(DeleteOptions {
        grace_period_seconds: grace,
        propagation,
        precondition_uid: body.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        precondition_resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run,
    })
}

pub fn delete(state: &ApiState, target: &ResourcePath, name: &str, query: &Query, body: &[u8]) -> Result<HttpResponse> {
    let options = delete_options(query, body)?;
    let deletion = state.store.delete_with(target.kind, target.namespace.as_deref(), name, &options)?;
    if target.kind == Kind::Pod || !deletion.gone {
        return Ok(response::object(200, &deletion.object));
    }
    let object = &deletion.object;
    Ok(response::json(200, &response::success(target.kind, object.name(), object.uid())))
}

pub fn delete_collection(state: &ApiState, target: &ResourcePath, query: &Query, body: &[u8]) -> Result<HttpResponse> {
    let options = delete_options(query, body)?;
    let filter = Filter::from_query(query)?;
    let (objects, _) = state.store.list(target.kind, target.namespace.as_deref());
    let mut deleted = Vec::new();
    for object in objects.into_iter().filter(|o| filter.matches(&o.value)) {
        match state.store.delete_with(target.kind, object.namespace(), object.name(), &options) {
            Ok(deletion) => deleted.push(deletion.object),
            Err(Error::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let body = response::list_body(target.kind, &deleted, state.store.revision(), None);
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// The `autoscaling/v1 Scale` of a Deployment or ReplicaSet.
fn scale_of(object: &Object) -> Value {
    let value = &object.value;
    let selector = value
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_json(s).ok())
        .map(|s| s.to_query())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": object.name(),
            "namespace": object.namespace(),
            "uid": object.uid(),
            "resourceVersion": object.resource_version.to_string(),
            "creationTimestamp": value.pointer("/metadata/creationTimestamp"),
        },
        "spec": {"replicas": value.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": value.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

pub fn scale(
    state: &ApiState,
    request: &HttpRequest,
    target: &ResourcePath,
    name: &str,
    query: &Query,
    body: &[u8],
) -> Result<HttpResponse> {
    let namespace = target.namespace.as_deref();
    let current = existing(state, target, name)?;
    let method = request.method().as_str();
    if method == "GET" {
        return Ok(response::json(200, &scale_of(&current)));
    }
    let scale = match method {
        "PUT" => body_json(body)?,
        "PATCH" => {
            let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let patch_type = PatchType::from_content_type(content_type)?;
            patch::apply(&scale_of(&current), &body_json(body)?, patch_type)?
        }
        _ => return Err(Error::MethodNotAllowed),
    };
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::invalid(target.kind, name, vec![crate::error::Cause::required("spec.replicas")]))?;
    let expected = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string);
    let updated = state.store.patch(target.kind, namespace, name, false, write_options(query), |value| {
        let mut next = value.clone();
        next["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = &expected
            && method == "PUT"
        {
            next["metadata"]["resourceVersion"] = json!(rv);
        }
        Ok(next)
    })?;
    Ok(response::json(200, &scale_of(&updated)))
}

/// `POST pods/{name}/eviction`: a graceful delete (no PodDisruptionBudgets in the lab).
pub fn evict(state: &ApiState, target: &ResourcePath, name: &str, query: &Query, body: &[u8]) -> Result<HttpResponse> {
    let eviction = body_json(body)?;
    let options_body = eviction.get("deleteOptions").map(|o| serde_json::to_vec(o).unwrap_or_default());
    let options = delete_options(query, options_body.as_deref().unwrap_or_default())?;
    let deletion = state.store.delete_with(target.kind, target.namespace.as_deref(), name, &options)?;
    let mut status = response::success(Kind::Pod, name, deletion.object.uid());
    status["code"] = json!(201);
    Ok(response::json(201, &status))
}

/// `POST pods/{name}/binding`: assign a node (what a scheduler does).
pub fn bind(state: &ApiState, target: &ResourcePath, name: &str, body: &[u8]) -> Result<HttpResponse> {
    let binding = body_json(body)?;
    let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
    if node.is_empty() {
        return Err(Error::invalid(Kind::Pod, name, vec![crate::error::Cause::required("target.name")]));
    }
    let pod = state.store.modify(Kind::Pod, target.namespace.as_deref(), name, |pod| {
        let current = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
        if !current.is_empty() {
            return Err(Error::conflict(
                Kind::Pod,
                name,
                format!("pod {name} is already assigned to node \"{current}\""),
            ));
        }
        pod["spec"]["nodeName"] = json!(node);
        Ok(())
    })?;
    let mut status = response::success(Kind::Pod, name, pod.uid());
    status["code"] = json!(201);
    Ok(response::json(201, &status))
}
