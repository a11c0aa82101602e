//! medic's HTTP surface (actix-web): the webhook receivers, the API (incidents, plans and their
//! approval, health), Slack's interaction callback, and the OpenAPI document that describes them all.
//!
//! [`api_routes`] is the one list of routes: the server registers from it, and a test checks it against
//! `medic/openapi.yaml` both ways.
use actix::Recipient;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, Route, web};
use medic_core::messages::PlanVerdict;
use std::sync::Arc;

use medic_collector::intake::Intake;
use medic_store::Store;

use crate::notify::{SlackInteractions, VerdictNote};

pub mod auth;
pub mod health;
mod incidents;
pub mod openapi;
pub mod plans;
mod slack;
mod webhooks;

pub use auth::{ApiAuth, ApiConfig, Role};
pub use health::{ModelAssistProbe, WatchtowerProbe, WritesAlwaysEnabled, WritesState};

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub intake: Arc<Intake>,
    pub store: Store,
    /// The Director, which takes verdicts on plans.
    pub director: Recipient<PlanVerdict>,
    pub auth: Arc<ApiAuth>,
    /// Slack's interactivity, when configured (`POST /v1/slack/interactions` answers 404 otherwise).
    pub slack: Option<Arc<SlackInteractions>>,
    /// Where verdicts are announced in the incident's thread, when there are sinks.
    pub notifier: Option<Recipient<VerdictNote>>,
    pub watchtower: Arc<dyn WatchtowerProbe>,
}

/// Every route: method, path (actix pattern, as in the OpenAPI document) and handler.
pub fn api_routes() -> Vec<(Method, &'static str, Route)> {
    vec![
        (Method::POST, "/v1/webhooks/{source}", web::post().to(webhooks::receive)),
        (Method::GET, "/v1/health", web::get().to(health::health)),
        (Method::GET, "/v1/incidents", web::get().to(incidents::list)),
        (Method::GET, "/v1/incidents/{uid}", web::get().to(incidents::show)),
        (Method::GET, "/v1/plans", web::get().to(plans::list)),
        (Method::GET, "/v1/plans/{id}", web::get().to(plans::show)),
        (Method::POST, "/v1/plans/{id}/approve", web::post().to(plans::approve)),
        (Method::POST, "/v1/plans/{id}/reject", web::post().to(plans::reject)),
        (Method::POST, "/v1/slack/interactions", web::post().to(slack::interactions)),
        (Method::GET, "/v1/openapi.json", web::get().to(openapi::json)),
        (Method::GET, "/v1/openapi.yaml", web::get().to(openapi::yaml)),
    ]
}

/// The routes' methods and paths.
pub fn route_table() -> Vec<(Method, &'static str)> {
    api_routes().into_iter().map(|(method, path, _)| (method, path)).collect()
}

/// Every route, for `App::configure`; anything else is a JSON 404.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("");
    for (_, path, route) in api_routes() {
        scope = scope.route(path, route);
    }
    cfg.service(scope.default_service(web::to(no_route)));
}

async fn no_route(req: HttpRequest) -> HttpResponse {
    error(StatusCode::NOT_FOUND, format!("no route {} {}", req.method(), req.path()))
}

/// A JSON error body: `{"error": "..."}` with the status given.
pub(crate) fn error(status: StatusCode, reason: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": reason.to_string() }))
}

/// A refused API call: 401 (with the scheme to use) or 403.
pub(crate) fn refused(refusal: auth::Refusal) -> HttpResponse {
    let mut response = HttpResponse::build(refusal.status);
    if refusal.status == StatusCode::UNAUTHORIZED {
        response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer realm=\"medic\""));
    }
    response.json(serde_json::json!({ "error": refusal.reason }))
}

/// An incident as the API and `--json` output show it.
pub fn incident_json(i: &medic_store::Incident) -> serde_json::Value {
    serde_json::json!({
        "uid": i.uid,
        "short": i.uid.short(),
        "status": i.status.as_str(),
        "title": i.title,
        "namespace": i.namespace,
        "workload": i.workload,
        "target": i.target.as_ref().map(|t| t.to_string()),
        "root_cause": i.root_cause,
        "diagnosis": i.diagnosis,
        "opened_at": i.opened_at,
        "updated_at": i.updated_at,
        "resolved_at": i.resolved_at,
        "alerts": i.alerts,
        "firing": i.firing,
    })
}
