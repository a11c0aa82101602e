//! The Kubernetes API server subset kubectl and kube-rs use, over HTTP on 127.0.0.1 (actix-web).
//!
//! The server runs on its own thread with its own actix system, so it works the same whether the
//! caller runs under actix-rt (`medic serve`, `#[actix_rt::test]`) or plain tokio (`#[tokio::test]`).
pub mod discovery;
pub mod handlers;
pub mod logs;
pub mod patch;
pub mod path;
pub mod response;
pub mod selector;
pub mod table;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::error::{Error, Result};
use crate::logs::LogStore;
use crate::store::{Kind, Store};
use path::{ResourcePath, Target};

/// Renders `/metrics` (Prometheus text format); supplied by the metrics module.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// Whether a node's kubelet is gone (the node failed).
pub type KubeletGone = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub logs: Arc<LogStore>,
    pub metrics: Option<MetricsRenderer>,
    /// How often a watch that allows bookmarks gets one (real time).
    pub bookmark_interval: Duration,
    /// Whether a node's kubelet is gone (a failed node): the API server cannot reach it for logs.
    pub kubelet_gone: Option<KubeletGone>,
}

impl ApiState {
    pub fn new(store: Arc<Store>, logs: Arc<LogStore>) -> Self {
        Self { store, logs, metrics: None, bookmark_interval: Duration::from_secs(15), kubelet_gone: None }
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("metrics", &self.metrics.is_some()).finish_non_exhaustive()
    }
}

/// Largest request body accepted (a big manifest list fits).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A running API server. Stops on [`ApiServer::stop`] or when dropped.
#[derive(Debug)]
pub struct ApiServer {
    address: SocketAddr,
    url: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Bind 127.0.0.1:`port` (0 = any free port) and serve `state` on a dedicated thread.
    pub fn start(state: ApiState, port: u16) -> Result<ApiServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lab-api".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    let data = web::Data::new(state);
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(MAX_BODY))
                            .default_service(web::to(dispatch))
                    })
                    .workers(2)
                    // Watch events are small writes that must not wait for the client's delayed ACK.
                    .tcp_nodelay(true)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(("127.0.0.1", port));
                    let server = match server {
                        Ok(server) => server,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let address = server.addrs().first().copied();
                    let running = server.run();
                    let _ =
                        ready_tx.send(address.map(|a| (a, running.handle())).ok_or_else(|| "no address bound".into()));
                    let _ = running.await;
                });
            })
            .map_err(|e| Error::Server(e.to_string()))?;
        let (address, handle) = ready_rx
            .recv()
            .map_err(|_| Error::Server("the server thread ended before binding".into()))?
            .map_err(|e| Error::Server(format!("binding 127.0.0.1:{port}: {e}")))?;
        Ok(ApiServer { address, url: format!("http://{address}"), handle, thread: Some(thread) })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stop serving and wait for the server thread to end.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // The stop command is sent at once; the thread ends on its own.
        drop(self.handle.stop(false));
    }
}

async fn dispatch(request: HttpRequest, body: web::Bytes, state: web::Data<ApiState>) -> HttpResponse {
    match route(&state, &request, &body) {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(method = %request.method(), path = request.path(), %error, "api request failed");
            response::error(&error)
        }
    }
}

fn route(state: &ApiState, request: &HttpRequest, body: &[u8]) -> Result<HttpResponse> {
    let path = request.path();
    let get = request.method() == actix_web::http::Method::GET;
    match path {
        "/version" | "/version/" if get => return Ok(response::json(200, &discovery::version())),
        "/healthz" | "/livez" | "/readyz" if get => {
            return Ok(HttpResponse::Ok().content_type("text/plain").body("ok"));
        }
        "/metrics" if get => {
            let text = state.metrics.as_ref().map(|render| render()).unwrap_or_default();
            return Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text));
        }
        "/api" | "/api/" | "/apis" | "/apis/" if get => {
            let core = path.starts_with("/api/") || path == "/api";
            let accept = request.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if let Some(version) = discovery::aggregated_version(accept) {
                let body = serde_json::to_vec(&discovery::aggregated(core, version)).unwrap_or_default();
                return Ok(HttpResponse::Ok().content_type(discovery::aggregated_content_type(version)).body(body));
            }
            if core {
                let host = request.connection_info().host().to_string();
                return Ok(response::json(200, &discovery::core_versions(&host)));
            }
            return Ok(response::json(200, &discovery::groups()));
        }
        "/openapi/v3" | "/openapi/v3/" if get => return Ok(response::json(200, &discovery::openapi_v3_root())),
        _ => {}
    }
    if let Some(document) = path.strip_prefix("/openapi/v3/") {
        return discovery::openapi_v3_document(document)
            .map(|doc| response::json(200, &doc))
            .ok_or(Error::NoSuchResource);
    }
    if let Some(group) = path.strip_prefix("/apis/").map(|g| g.trim_end_matches('/')).filter(|g| !g.contains('/')) {
        let found = Kind::GROUPS.iter().find(|(name, _)| *name == group);
        let (name, version) = found.ok_or(Error::NoSuchResource)?;
        let gv = serde_json::json!({"groupVersion": format!("{name}/{version}"), "version": version});
        let group = serde_json::json!({"kind": "APIGroup", "apiVersion": "v1", "name": name,
                                       "versions": [gv.clone()], "preferredVersion": gv});
        return Ok(response::json(200, &group));
    }
    match path::parse(path) {
        None => Err(Error::NoSuchResource),
        Some(Err(error)) => Err(error),
        Some(Ok(Target::ResourceList { group, version })) if get => {
            Ok(response::json(200, &discovery::resource_list(&group, &version)))
        }
        Some(Ok(Target::ResourceList { .. })) => Err(Error::MethodNotAllowed),
        Some(Ok(Target::Resource(target))) => resource(state, request, &target, body),
    }
}

fn resource(state: &ApiState, request: &HttpRequest, target: &ResourcePath, body: &[u8]) -> Result<HttpResponse> {
    let query = handlers::parse_query(request);
    let method = request.method().as_str();
    let Some(name) = target.name.as_deref() else {
        return match method {
            "GET" if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                watch::watch(state, request, target, &query)
            }
            "GET" => handlers::list(state, request, target, &query),
            "POST" => handlers::create(state, target, &query, body),
            "DELETE" => handlers::delete_collection(state, target, &query, body),
            _ => Err(Error::MethodNotAllowed),
        };
    };
    match (target.subresource.as_deref(), method) {
        (None, "GET") => handlers::get(state, request, target, name),
        (None | Some("status"), "PUT") => handlers::update(state, target, name, &query, body),
        (None | Some("status"), "PATCH") => handlers::patch(state, request, target, name, &query, body),
        (None, "DELETE") => handlers::delete(state, target, name, &query, body),
        (Some("status"), "GET") => handlers::get(state, request, target, name),
        (Some("scale"), _) => handlers::scale(state, request, target, name, &query, body),
        (Some("log"), "GET") => logs::logs(state, target.namespace.as_deref().unwrap_or_default(), name, &query),
        (Some("eviction"), "POST") => handlers::evict(state, target, name, &query, body),
        (Some("binding"), "POST") => handlers::bind(state, target, name, body),
        _ => Err(Error::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests;
