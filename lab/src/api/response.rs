//! Building responses: objects and lists from cached JSON bytes, `Status` errors, content negotiation.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use crate::error::Error;
use crate::store::{Kind, Object};

pub fn json(status: u16, value: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json")
        .body(serde_json::to_vec(value).unwrap_or_default())
}

pub fn object(status: u16, object: &Object) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json")
        .body(object.json.clone())
}

pub fn error(error: &Error) -> HttpResponse {
    json(error.code(), &error.to_status())
}

/// `{"kind":"Status","status":"Success",...}` as DELETE and subresource POSTs answer.
pub fn success(kind: Kind, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": kind.plural(), "uid": uid});
    if !kind.group().is_empty() {
        details["group"] = json!(kind.group());
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// A `<Kind>List` body, assembled from the objects' cached JSON without re-serialising them.
pub fn list_body(kind: Kind, objects: &[Object], resource_version: u64, continue_token: Option<&str>) -> Bytes {
    let items: usize = objects.iter().map(|o| o.json.len() + 1).sum();
    let mut body = BytesMut::with_capacity(items + 160);
    body.put_slice(b"{\"kind\":\"");
    body.put_slice(kind.kind().as_bytes());
    body.put_slice(b"List\",\"apiVersion\":\"");
    body.put_slice(kind.api_version().as_bytes());
    body.put_slice(b"\",\"metadata\":{\"resourceVersion\":\"");
    body.put_slice(resource_version.to_string().as_bytes());
    body.put_slice(b"\"");
    if let Some(token) = continue_token {
        // Tokens are hex, so they need no escaping.
        body.put_slice(b",\"continue\":\"");
        body.put_slice(token.as_bytes());
        body.put_slice(b"\"");
    }
    body.put_slice(b"},\"items\":[");
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&object.json);
    }
    body.put_slice(b"]}");
    body.freeze()
}

/// Whether the client asked for a `meta.k8s.io Table` (kubectl get does).
pub fn wants_table(request: &HttpRequest) -> bool {
    request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').next().is_some_and(|first| first.contains("as=Table")))
}

/// A continue token for the key `namespace/name` (hex, opaque to clients).
pub fn continue_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_continue(token: &str) -> Result<String, Error> {
    let invalid = || Error::BadRequest(format!("invalid continue token {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(&token[i..i + 2], 16)).collect();
    String::from_utf8(bytes.map_err(|_| invalid())?).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn list_bodies_are_valid_json_lists() {
        let object = |name: &str| {
            let value = json!({"metadata": {"name": name}});
            Arc::new(crate::store::StoredObject {
                json: Bytes::from(serde_json::to_vec(&value).unwrap()),
                value,
                resource_version: 5,
            })
        };
        let body = list_body(Kind::Deployment, &[object("a"), object("b")], 42, Some("ab"));
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["kind"], "DeploymentList");
        assert_eq!(parsed["apiVersion"], "apps/v1");
        assert_eq!(parsed["metadata"], json!({"resourceVersion": "42", "continue": "ab"}));
        assert_eq!(parsed["items"][1]["metadata"]["name"], "b");
        let empty: Value = serde_json::from_slice(&list_body(Kind::Pod, &[], 1, None)).unwrap();
        assert_eq!(empty["items"], json!([]));
    }

    #[test]
    fn continue_tokens_round_trip() {
        let token = continue_token("shop/cart-7d9f-x2b4z");
        assert_eq!(parse_continue(&token).unwrap(), "shop/cart-7d9f-x2b4z");
        assert!(parse_continue("zz").is_err());
    }
}
