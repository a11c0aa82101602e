//! `GET /v1/health`.
use actix_web::{HttpResponse, web};

use super::HttpState;

pub async fn health(state: web::Data<HttpState>) -> HttpResponse {
    let open = state.store.incidents_open().await.map(|i| i.len());
    match open {
        Ok(open) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "open_incidents": open })),
        Err(e) => super::error(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {e}")),
    }
}
