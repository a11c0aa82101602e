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
    HttpResponse::Ok().json(serde_json::json!({
        "status": status,
        "open_incidents": open,
        "watchtower": writes,
        "notifications": { "unsent": unsent },
    }))
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
