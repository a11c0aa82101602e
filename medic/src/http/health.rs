//! `GET /v1/health`: whether medic is up, whether it may write to the cluster (the watchtower), how many
//! incidents are open and how many notifications wait in the outbox. It needs no token, so probes and
//! load balancers can call it.
use actix_web::{HttpResponse, web};
use jiff::Timestamp;
use serde::Serialize;

use super::HttpState;

/// Whether medic may write to clusters now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "writes", rename_all = "lowercase")]
pub enum WritesState {
    Enabled,
    /// Writes are suspended (the reasoning backend is too slow or failing); medic keeps diagnosing and
    /// reporting.
    Suspended {
        reason: String,
        since: Timestamp,
    },
}

/// What the watchtower tells health. medic without a watchtower always writes ([`WritesAlwaysEnabled`]).
pub trait WatchtowerProbe: Send + Sync {
    fn writes(&self) -> WritesState;

    /// The model assist's own state (the watchtower's measurements, the routing between models), shown
    /// under `llm` when a model is configured.
    fn model(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The probe of a medic with a model assist (`[llm]`): the reasoner's watchtower and router.
pub struct ModelAssistProbe(pub std::sync::Arc<medic_agents::llm::Reasoner>);

impl WatchtowerProbe for ModelAssistProbe {
    fn writes(&self) -> WritesState {
        let status = self.0.watchtower().status();
        match (status.writes, status.reason, status.since) {
            (medic_agents::llm::Writes::Suspended, Some(reason), Some(since)) => {
                WritesState::Suspended { reason, since }
            }
            _ => WritesState::Enabled,
        }
    }

    fn model(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "watchtower": self.0.watchtower().status(),
            "routing": self.0.router().status(),
        }))
    }
}

/// The probe of a medic without a watchtower.
#[derive(Debug, Clone, Copy, Default)]
pub struct WritesAlwaysEnabled;

impl WatchtowerProbe for WritesAlwaysEnabled {
    fn writes(&self) -> WritesState {
        WritesState::Enabled
    }
}

pub async fn health(state: web::Data<HttpState>) -> HttpResponse {
    let open = match state.store.incidents_open().await {
        Ok(open) => open.len(),
        Err(e) => {
            return super::error(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {e}"));
        }
    };
    let unsent = state.store.outbox_unsent().await.ok();
    let writes = state.watchtower.writes();
    let status = if writes == WritesState::Enabled { "ok" } else { "degraded" };
    let mut body = serde_json::json!({
        "status": status,
        "open_incidents": open,
        "watchtower": writes,
        "notifications": { "unsent": unsent },
    });
    if let Some(model) = state.watchtower.model() {
        body["llm"] = model;
    }
    HttpResponse::Ok().json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchtower_state_reads_as_documented() {
        assert_eq!(serde_json::to_value(WritesState::Enabled).unwrap(), serde_json::json!({"writes": "enabled"}));
        let since: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let suspended = WritesState::Suspended { reason: "the reasoning backend took 75 s".into(), since };
        assert_eq!(
            serde_json::to_value(suspended).unwrap(),
            serde_json::json!({"writes": "suspended", "reason": "the reasoning backend took 75 s",
                               "since": "2026-03-01T12:00:00Z"})
        );
    }
}
