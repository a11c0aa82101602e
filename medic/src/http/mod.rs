//! medic's HTTP surface (actix-web): the webhook receivers, the incidents API and health.
use actix_web::web;
use std::sync::Arc;

use medic_collector::intake::Intake;
use medic_store::Store;

mod health;
mod incidents;
mod webhooks;

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub intake: Arc<Intake>,
    pub store: Store,
}

/// Every route, for `App::configure`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/webhooks/{source}", web::post().to(webhooks::receive))
            .route("/health", web::get().to(health::health))
            .route("/incidents", web::get().to(incidents::list))
            .route("/incidents/{uid}", web::get().to(incidents::show)),
    );
}

/// A JSON error body: `{"error": "..."}` with the status given.
pub(crate) fn error(status: actix_web::http::StatusCode, reason: impl std::fmt::Display) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status).json(serde_json::json!({ "error": reason.to_string() }))
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
