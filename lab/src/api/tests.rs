//! The API server's routes, exercised in-process (no socket) under actix-rt.
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use serde_json::{Value, json};

use super::*;
use crate::clock::LabClock;
use crate::runtime::ContainerKey;

fn state() -> ApiState {
    let clock = Arc::new(LabClock::new("2026-01-01T00:00:00Z".parse().unwrap(), 1.0));
    let store = Arc::new(Store::with_seed(clock, 1));
    store.create(Kind::Namespace, json!({"metadata": {"name": "shop"}})).unwrap();
    let mut state = ApiState::new(store, Arc::new(LogStore::default()));
    state.bookmark_interval = Duration::from_millis(50);
    state
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(App::new().app_data(web::Data::new($state.clone())).default_service(web::to(dispatch))).await
    };
}

/// Send a request; the status and the body as JSON (or as a JSON string when it is not JSON).
macro_rules! call {
    ($app:expr, $request:expr $(,)?) => {{
        let response = test::call_service($app, $request.to_request()).await;
        let status = response.status();
        let body = test::read_body(response).await;
        let value: Value =
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
        (status, value)
    }};
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "cart"}},
           "spec": {"containers": [{"name": "app", "image": "cart:1"}]}})
}

#[actix_rt::test]
async fn discovery_documents() {
    let state = state();
    let app = app!(state);
    let (code, version) = call!(&app, test::TestRequest::get().uri("/version"));
    assert_eq!((code, version["gitVersion"].as_str()), (StatusCode::OK, Some(discovery::GIT_VERSION)));
    let (_, api) = call!(&app, test::TestRequest::get().uri("/api"));
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, apis) = call!(&app, test::TestRequest::get().uri("/apis"));
    assert_eq!(apis["kind"], "APIGroupList");
    let (_, core) = call!(&app, test::TestRequest::get().uri("/api/v1"));
    assert!(core["resources"].as_array().unwrap().iter().any(|r| r["name"] == "pods/log"));
    let (_, group) = call!(&app, test::TestRequest::get().uri("/apis/chaos-mesh.org"));
    assert_eq!(group["preferredVersion"]["groupVersion"], "chaos-mesh.org/v1alpha1");
    let (code, missing) = call!(&app, test::TestRequest::get().uri("/apis/batch/v1/jobs"));
    assert_eq!((code, missing["reason"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")));
    let (code, _) = call!(&app, test::TestRequest::get().uri("/openapi/v3/apis/apps/v1"));
    assert_eq!(code, StatusCode::OK);
}

#[actix_rt::test]
async fn create_get_errors_as_status_objects() {
    let state = state();
    let app = app!(state);
    let create = || test::TestRequest::post().uri("/api/v1/namespaces/shop/pods").set_json(pod("cart-1"));
    let (code, created) = call!(&app, create());
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(created["metadata"]["namespace"], "shop");
    let (code, exists) = call!(&app, create());
    assert_eq!((code, exists["reason"].as_str()), (StatusCode::CONFLICT, Some("AlreadyExists")));

    let (code, missing) = call!(&app, test::TestRequest::get().uri("/api/v1/namespaces/shop/pods/nope"));
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        missing,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "pods \"nope\" not found", "reason": "NotFound", "details": {"name": "nope", "kind": "pods"}, "code": 404})
    );

    let invalid = json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "app"}]}});
    let (code, status) = call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods").set_json(invalid));
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status["details"]["causes"][0]["field"], "spec.containers[0].image");

    let elsewhere = json!({"metadata": {"name": "x", "namespace": "other"}});
    let (code, _) =
        call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/configmaps").set_json(elsewhere));
    assert_eq!(code, StatusCode::BAD_REQUEST, "body and path namespaces must agree");

    let (code, _) =
        call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods?dryRun=All").set_json(pod("dry")),);
    assert_eq!(code, StatusCode::CREATED);
    assert!(state.store.get(Kind::Pod, Some("shop"), "dry").is_none());
}

#[actix_rt::test]
async fn patches_by_content_type() {
    let state = state();
    let app = app!(state);
    call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods").set_json(pod("cart-1")));
    let patch = |ct: &str, body: Value| {
        test::TestRequest::patch()
            .uri("/api/v1/namespaces/shop/pods/cart-1")
            .insert_header(("content-type", ct.to_string()))
            .set_payload(body.to_string())
    };
    let (code, patched) = call!(
        &app,
        patch(
            "application/strategic-merge-patch+json",
            json!({"spec": {"containers": [{"name": "app", "image": "cart:2"}]}})
        ),
    );
    assert_eq!((code, patched["spec"]["containers"][0]["image"].as_str()), (StatusCode::OK, Some("cart:2")));
    let (code, _) = call!(&app, patch("text/plain", json!({})));
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (code, failed) = call!(
        &app,
        patch("application/json-patch+json", json!([{"op": "test", "path": "/spec/nodeName", "value": "x"}]))
    );
    assert_eq!((code, failed["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")));

    let chaos = json!({"metadata": {"name": "kill"}, "spec": {"action": "pod-kill", "mode": "one"}});
    call!(
        &app,
        test::TestRequest::post().uri("/apis/chaos-mesh.org/v1alpha1/namespaces/shop/podchaos").set_json(chaos)
    );
    let (code, _) = call!(
        &app,
        test::TestRequest::patch()
            .uri("/apis/chaos-mesh.org/v1alpha1/namespaces/shop/podchaos/kill")
            .insert_header(("content-type", "application/strategic-merge-patch+json"))
            .set_payload("{}"),
    );
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "custom resources take no strategic merge patch");
}

#[actix_rt::test]
async fn server_side_apply_creates_then_merges() {
    let state = state();
    let app = app!(state);
    let apply = |yaml: &str| {
        test::TestRequest::patch()
            .uri("/api/v1/namespaces/shop/configmaps/settings?fieldManager=kubectl&force=false")
            .insert_header(("content-type", "application/apply-patch+yaml"))
            .set_payload(yaml.to_string())
    };
    let (code, created) =
        call!(&app, apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n"));
    assert_eq!((code, created["data"]["a"].as_str()), (StatusCode::CREATED, Some("1")));
    let (code, merged) =
        call!(&app, apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  b: '2'\n"));
    assert_eq!(code, StatusCode::OK);
    assert_eq!(merged["data"], json!({"a": "1", "b": "2"}));
}

#[actix_rt::test]
async fn lists_pages_and_tables() {
    let state = state();
    let app = app!(state);
    for name in ["a", "b", "c"] {
        call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods").set_json(pod(name)));
    }
    let (_, page) = call!(&app, test::TestRequest::get().uri("/api/v1/namespaces/shop/pods?limit=2"));
    assert_eq!(page["kind"], "PodList");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, rest) =
        call!(&app, test::TestRequest::get().uri(&format!("/api/v1/namespaces/shop/pods?limit=2&continue={token}")));
    assert_eq!(rest["items"][0]["metadata"]["name"], "c");
    assert!(rest["metadata"].get("continue").is_none());

    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let (_, table) = call!(
        &app,
        test::TestRequest::get().uri("/api/v1/pods?fieldSelector=metadata.name%3Db").insert_header(("accept", accept))
    );
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["columnDefinitions"][1]["name"], "Ready");
    assert_eq!(table["rows"].as_array().unwrap().len(), 1);
    assert_eq!(table["rows"][0]["cells"][0], "b");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(table["rows"][0]["object"]["metadata"]["namespace"], "shop");
    let (code, _) = call!(&app, test::TestRequest::get().uri("/api/v1/pods?labelSelector=a%20b"));
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

/// The lines of a watch response (which ends at its timeout), parsed.
macro_rules! watch_lines {
    ($app:expr, $uri:expr $(,)?) => {{
        let response = test::call_service($app, test::TestRequest::get().uri($uri).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = test::read_body(response).await;
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<Value>(l).unwrap())
            .collect::<Vec<Value>>()
    }};
}

#[actix_rt::test]
async fn watches_replay_filter_and_expire() {
    let state = state();
    let app = app!(state);
    let (_, start) = state.store.list(Kind::Pod, None);
    state.store.create(Kind::Pod, with_namespace(pod("a"))).unwrap();
    state.store.create(Kind::Pod, with_namespace(pod("b"))).unwrap();
    state
        .store
        .modify(Kind::Pod, Some("shop"), "a", |p| {
            p["metadata"]["labels"]["app"] = json!("moved");
            Ok(())
        })
        .unwrap();
    state.store.delete(Kind::Pod, Some("shop"), "b").unwrap();

    let all = watch_lines!(
        &app,
        &format!("/api/v1/namespaces/shop/pods?watch=true&resourceVersion={start}&timeoutSeconds=1")
    );
    let types: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "ADDED", "MODIFIED", "DELETED"]);

    // With a selector, an object that stops matching is DELETED for this watch.
    let selected = watch_lines!(
        &app,
        &format!(
            "/api/v1/namespaces/shop/pods?watch=1&resourceVersion={start}&timeoutSeconds=1&labelSelector=app%3Dcart"
        )
    );
    let seen: Vec<(String, String)> = selected
        .iter()
        .map(|e| (e["type"].as_str().unwrap().into(), e["object"]["metadata"]["name"].as_str().unwrap().into()))
        .collect();
    let expected = [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a"), ("DELETED", "b")];
    assert_eq!(seen, expected.map(|(t, n)| (t.to_string(), n.to_string())));

    // No resourceVersion: the current objects as ADDED first; bookmarks when allowed.
    let fresh = watch_lines!(&app, "/api/v1/namespaces/shop/pods?watch=true&timeoutSeconds=1&allowWatchBookmarks=true");
    assert_eq!(fresh[0]["type"], "ADDED");
    assert_eq!(fresh[0]["object"]["metadata"]["name"], "a");
    let bookmark = fresh.iter().find(|e| e["type"] == "BOOKMARK").expect("a bookmark within the second");
    assert_eq!(bookmark["object"]["kind"], "Pod");
    assert!(bookmark["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() >= start);

    for i in 0..crate::store::HISTORY_PER_KIND + 1 {
        state
            .store
            .modify(Kind::Pod, Some("shop"), "a", |p| {
                p["metadata"]["annotations"] = json!({"i": i.to_string()});
                Ok(())
            })
            .unwrap();
    }
    let expired = watch_lines!(&app, &format!("/api/v1/namespaces/shop/pods?watch=true&resourceVersion={start}"));
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0]["type"].as_str(), expired[0]["object"]["code"].as_i64()), (Some("ERROR"), Some(410)));
}

fn with_namespace(mut value: Value) -> Value {
    value["metadata"]["namespace"] = json!("shop");
    value
}

#[actix_rt::test]
async fn deletes_scale_eviction_and_binding() {
    let state = state();
    let app = app!(state);
    let deployment = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}});
    call!(&app, test::TestRequest::post().uri("/apis/apps/v1/namespaces/shop/deployments").set_json(deployment));
    let (_, scale) = call!(&app, test::TestRequest::get().uri("/apis/apps/v1/namespaces/shop/deployments/web/scale"));
    assert_eq!((scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()), (Some("Scale"), Some(2)));
    assert_eq!(scale["status"]["selector"], "app=web");
    let (_, scaled) = call!(
        &app,
        test::TestRequest::patch()
            .uri("/apis/apps/v1/namespaces/shop/deployments/web/scale")
            .insert_header(("content-type", "application/merge-patch+json"))
            .set_payload(r#"{"spec":{"replicas":5}}"#),
    );
    assert_eq!(scaled["spec"]["replicas"], 5);
    let web = state.store.get(Kind::Deployment, Some("shop"), "web").unwrap();
    assert_eq!(
        (web.value["spec"]["replicas"].as_i64(), web.value["metadata"]["generation"].as_i64()),
        (Some(5), Some(2))
    );

    let (code, status) = call!(
        &app,
        test::TestRequest::delete()
            .uri("/apis/apps/v1/namespaces/shop/deployments/web")
            .set_payload(r#"{"propagationPolicy":"Background"}"#),
    );
    assert_eq!(
        (code, status["kind"].as_str(), status["status"].as_str()),
        (StatusCode::OK, Some("Status"), Some("Success"))
    );
    assert_eq!(status["details"]["group"], "apps");

    call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods").set_json(pod("p")));
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}});
    let (code, _) =
        call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods/p/binding").set_json(binding.clone()));
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) =
        call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods/p/binding").set_json(binding));
    assert_eq!(code, StatusCode::CONFLICT, "a bound pod cannot be bound again");

    let eviction =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "shop"}});
    let (code, _) =
        call!(&app, test::TestRequest::post().uri("/api/v1/namespaces/shop/pods/p/eviction").set_json(eviction));
    assert_eq!(code, StatusCode::CREATED);
    let evicted = state.store.get(Kind::Pod, Some("shop"), "p").unwrap();
    assert!(evicted.is_terminating(), "eviction deletes gracefully");
    let (code, deleted) = call!(
        &app,
        test::TestRequest::delete().uri("/api/v1/namespaces/shop/pods/p").set_payload(r#"{"gracePeriodSeconds":0}"#),
    );
    assert_eq!((code, deleted["kind"].as_str()), (StatusCode::OK, Some("Pod")), "deleting a pod answers the pod");
    assert!(state.store.get(Kind::Pod, Some("shop"), "p").is_none());
}

#[actix_rt::test]
async fn pod_logs() {
    let state = state();
    let app = app!(state);
    let mut scheduled = with_namespace(pod("p"));
    scheduled["spec"]["nodeName"] = json!("n1");
    state.store.create(Kind::Pod, scheduled).unwrap();
    let (code, waiting) = call!(&app, test::TestRequest::get().uri("/api/v1/namespaces/shop/pods/p/log"));
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(waiting["message"], "container \"app\" in pod \"p\" is waiting to start: ContainerCreating");
    state
        .store
        .modify(Kind::Pod, Some("shop"), "p", |p| {
            p["status"]["containerStatuses"] = json!([{"name": "app", "restartCount": 0, "state": {"running": {}}}]);
            Ok(())
        })
        .unwrap();
    let key = ContainerKey { namespace: "shop".into(), pod: "p".into(), container: "app".into() };
    let t0 = state.store.clock().now();
    for i in 0..5 {
        state.logs.append(&key, t0, format!("line {i}"));
    }
    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/api/v1/namespaces/shop/pods/p/log?tailLines=2").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(test::read_body(response).await, "line 3\nline 4\n");
    let (code, previous) =
        call!(&app, test::TestRequest::get().uri("/api/v1/namespaces/shop/pods/p/log?previous=true"));
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(previous["message"], "previous terminated container \"app\" in pod \"p\" not found");
    let (code, _) = call!(&app, test::TestRequest::get().uri("/api/v1/namespaces/shop/pods/p/log?container=nope"));
    assert_eq!(code, StatusCode::BAD_REQUEST);
}
