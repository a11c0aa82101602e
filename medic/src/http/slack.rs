//! `POST /v1/slack/interactions`: Slack's callback when someone clicks Approve or Reject.
//!
//! The signature is checked on the raw body before anything reads it (v0, five-minute window, constant
//! time); a forged, stale or unsigned request is refused with 401 and the reason. A verified click is
//! answered 200 at once — Slack gives up after 3 s — and the verdict goes to the Director afterwards,
//! recorded as `slack:<user id>`.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use medic_slack::Interaction;
use medic_slack::interaction;
use medic_slack::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use tracing::{info, warn};

use super::plans::{apply_verdict, refuse_verdict};
use super::{HttpState, error};

/// Slack's payloads carry the whole message the button is on: up to 50 blocks of 3000 characters.
const MAX_BODY: usize = 1024 * 1024;

async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, HttpResponse> {
    let mut body = Vec::with_capacity(8 * 1024);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| error(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn interactions(req: HttpRequest, payload: web::Payload, state: web::Data<HttpState>) -> HttpResponse {
    let Some(slack) = state.slack.clone() else {
        return error(StatusCode::NOT_FOUND, "slack interactions are not configured ([notify.interactions])");
    };
    let body = match read_body(payload).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // Slack signs in wall-clock time, whatever clock medic runs on (the lab's runs faster).
    let now = jiff::Timestamp::now().as_second();
    if let Err(e) = slack.verifier.verify(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body, now) {
        warn!(reason = %e, kind = e.metric_label(), peer = ?req.peer_addr(), "refused a Slack interaction");
        return error(StatusCode::UNAUTHORIZED, e);
    }
    let actions = match interaction::parse(&body) {
        Ok(Interaction::BlockActions(actions)) => actions,
        Ok(Interaction::Other { kind }) => {
            info!(kind, "ignored a Slack interaction of another type");
            return HttpResponse::Ok().finish();
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let clicks = match actions.plan_clicks() {
        Ok(clicks) => clicks,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if clicks.is_empty() {
        return HttpResponse::Ok().finish();
    }
    let by = actions.by();
    let allowed = slack.may_decide(&actions.user.id);
    let state = state.into_inner();
    // Answer now; the verdicts are applied after (Slack shows an error past 3 s).
    actix_web::rt::spawn(async move {
        for click in clicks {
            if allowed {
                let _ = apply_verdict(&state, click.plan, click.approved, by.clone()).await;
            } else {
                warn!(%by, plan = %click.plan, "a Slack user who is not an approver clicked a plan's button");
                let reason = format!("{by} is not among the approvers of [notify.interactions]");
                refuse_verdict(&state, click.plan, click.approved, by.clone(), reason).await;
            }
        }
    });
    HttpResponse::Ok().finish()
}
