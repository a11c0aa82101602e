//! Plans waiting for a human: `GET /v1/plans`, `GET /v1/plans/{id}`, `POST /v1/plans/{id}/approve`,
//! `POST /v1/plans/{id}/reject`.
//!
//! A verdict goes to the Director (`PlanVerdict`), which records it exactly once and runs an approved plan;
//! a second verdict on the same plan is refused (409) naming who decided first. The incident's Slack
//! thread hears about every verdict, from the API or from Slack.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use medic_core::PlanId;
use medic_core::messages::PlanVerdict;
use medic_store::{PlanStatus, StoredPlan};
use tracing::info;

use super::auth::Role;
use super::{HttpState, error, refused};
use crate::notify::VerdictNote;

/// Why a verdict was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictError {
    NotFound(PlanId),
    AlreadyDecided { plan: PlanId, status: PlanStatus, by: String },
    Unavailable(String),
}

impl VerdictError {
    pub fn status(&self) -> StatusCode {
        match self {
            VerdictError::NotFound(_) => StatusCode::NOT_FOUND,
            VerdictError::AlreadyDecided { .. } => StatusCode::CONFLICT,
            VerdictError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for VerdictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerdictError::NotFound(plan) => write!(f, "no plan {plan}"),
            VerdictError::AlreadyDecided { plan, status, by } => {
                write!(f, "plan {plan} was already {status} by {by}: a plan takes one verdict")
            }
            VerdictError::Unavailable(reason) => write!(f, "the verdict could not be recorded: {reason}"),
        }
    }
}

fn decided(stored: StoredPlan) -> VerdictError {
    VerdictError::AlreadyDecided {
        plan: stored.plan.id,
        status: stored.status,
        by: stored.decided_by.unwrap_or_else(|| "unknown".into()),
    }
}

/// Hands a verdict to the Director and tells the incident's thread how it went. Returns the plan as
/// decided.
pub(crate) async fn apply_verdict(
    state: &HttpState,
    plan: PlanId,
    approved: bool,
    by: String,
) -> Result<StoredPlan, VerdictError> {
    let stored = match state.store.plan(plan).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(VerdictError::NotFound(plan)),
        Err(e) => return Err(VerdictError::Unavailable(e.to_string())),
    };
    let incident = stored.plan.incident;
    let outcome = if stored.status != PlanStatus::Pending {
        Err(decided(stored))
    } else {
        match state.director.send(PlanVerdict { plan, approved, by: by.clone() }).await {
            Ok(Ok(())) => match state.store.plan(plan).await {
                Ok(Some(stored)) => Ok(stored),
                Ok(None) => Err(VerdictError::NotFound(plan)),
                Err(e) => Err(VerdictError::Unavailable(e.to_string())),
            },
            // Refused by the Director: another verdict got there first, or the store failed.
            Ok(Err(reason)) => match state.store.plan(plan).await {
                Ok(Some(stored)) if stored.status != PlanStatus::Pending => Err(decided(stored)),
                _ => Err(VerdictError::Unavailable(reason)),
            },
            Err(e) => Err(VerdictError::Unavailable(format!("the director is unavailable: {e}"))),
        }
    };
    let word = if approved { "approved" } else { "rejected" };
    match &outcome {
        Ok(_) => info!(%incident, %plan, %by, "plan {word}"),
        Err(e) => info!(%incident, %plan, %by, reason = %e, "verdict not applied"),
    }
    if let Some(notifier) = &state.notifier {
        let refused = outcome.as_ref().err().map(ToString::to_string);
        notifier.do_send(VerdictNote { incident, plan, approved, by, refused });
    }
    outcome
}

/// Tells the incident's thread that a verdict was refused before it reached the Director.
pub(crate) async fn refuse_verdict(state: &HttpState, plan: PlanId, approved: bool, by: String, reason: String) {
    let Some(notifier) = &state.notifier else { return };
    if let Ok(Some(stored)) = state.store.plan(plan).await {
        let incident = stored.plan.incident;
        notifier.do_send(VerdictNote { incident, plan, approved, by, refused: Some(reason) });
    }
}

/// A plan as the API shows it.
pub fn plan_json(stored: &StoredPlan) -> serde_json::Value {
    serde_json::json!({
        "id": stored.plan.id,
        "incident": stored.plan.incident,
        "status": stored.status.as_str(),
        "created_at": stored.created_at,
        "decided_by": stored.decided_by,
        "decided_at": stored.decided_at,
        "plan": stored.plan,
    })
}

fn parse_id(id: &str) -> Result<PlanId, String> {
    id.parse().map_err(|_| format!("{id:?} is not a plan id"))
}

pub async fn list(req: HttpRequest, state: web::Data<HttpState>) -> HttpResponse {
    if let Err(r) = state.auth.check_request(&req, Role::Viewer, "listing plans") {
        return refused(r);
    }
    match state.store.pending_plans().await {
        Ok(plans) => {
            HttpResponse::Ok().json(serde_json::json!({ "plans": plans.iter().map(plan_json).collect::<Vec<_>>() }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

pub async fn show(req: HttpRequest, id: web::Path<String>, state: web::Data<HttpState>) -> HttpResponse {
    if let Err(r) = state.auth.check_request(&req, Role::Viewer, "reading a plan") {
        return refused(r);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    match state.store.plan(id).await {
        Ok(Some(stored)) => HttpResponse::Ok().json(plan_json(&stored)),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no plan {id}")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn verdict(req: HttpRequest, id: &str, state: &HttpState, approved: bool) -> HttpResponse {
    let doing = if approved { "approving a plan" } else { "rejecting a plan" };
    let caller = match state.auth.check_request(&req, Role::Approver, doing) {
        Ok(caller) => caller,
        Err(r) => return refused(r),
    };
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    match apply_verdict(state, id, approved, caller.by()).await {
        Ok(stored) => HttpResponse::Ok().json(plan_json(&stored)),
        Err(e) => error(e.status(), e),
    }
}

pub async fn approve(req: HttpRequest, id: web::Path<String>, state: web::Data<HttpState>) -> HttpResponse {
    verdict(req, &id, &state, true).await
}

pub async fn reject(req: HttpRequest, id: web::Path<String>, state: web::Data<HttpState>) -> HttpResponse {
    verdict(req, &id, &state, false).await
}
