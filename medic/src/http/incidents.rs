//! `GET /v1/incidents` and `GET /v1/incidents/{uid}`: incidents and their timelines (viewer role).
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use medic_store::{IncidentFilter, IncidentStatus};
use serde::Deserialize;

use super::auth::Role;
use super::{HttpState, error, refused};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    namespace: Option<String>,
    limit: Option<usize>,
}

pub async fn list(req: HttpRequest, query: web::Query<ListQuery>, state: web::Data<HttpState>) -> HttpResponse {
    if let Err(r) = state.auth.check_request(&req, Role::Viewer, "listing incidents") {
        return refused(r);
    }
    let mut filter = IncidentFilter::default().limit(query.limit.unwrap_or(100).min(1000));
    if let Some(status) = &query.status {
        match status.parse::<IncidentStatus>() {
            Ok(s) => filter = filter.status(s),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("status: {e}")),
        }
    }
    if let Some(ns) = &query.namespace {
        filter = filter.namespace(ns.clone());
    }
    match state.store.incidents(filter).await {
        Ok(incidents) => {
            let incidents: Vec<_> = incidents.iter().map(super::incident_json).collect();
            HttpResponse::Ok().json(serde_json::json!({ "incidents": incidents }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

pub async fn show(req: HttpRequest, uid: web::Path<String>, state: web::Data<HttpState>) -> HttpResponse {
    if let Err(r) = state.auth.check_request(&req, Role::Viewer, "reading an incident") {
        return refused(r);
    }
    let incident = match state.store.find_incident(&uid).await {
        Ok(Some(incident)) => incident,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no incident {uid}")),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let timeline = match state.store.timeline(incident.uid).await {
        Ok(t) => t,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let alerts = match state.store.incident_alerts(incident.uid).await {
        Ok(a) => a,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let alerts: Vec<_> = alerts
        .into_iter()
        .map(|a| serde_json::json!({ "id": a.id, "received_at": a.received_at, "alert": a.alert }))
        .collect();
    let timeline: Vec<_> =
        timeline.into_iter().map(|r| serde_json::json!({ "seq": r.seq, "hash": r.hash, "entry": r.entry })).collect();
    HttpResponse::Ok().json(
        serde_json::json!({ "incident": super::incident_json(&incident), "alerts": alerts, "timeline": timeline }),
    )
}
