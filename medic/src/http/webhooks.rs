//! `POST /v1/webhooks/{alertmanager|goalert|generic}`: authenticated, size-limited, persisted before the 2xx.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use medic_collector::IntakeError;
use medic_collector::intake::Intake;
use medic_core::AlertSource;

use super::{HttpState, error};

fn source(name: &str) -> Option<AlertSource> {
    match name {
        "alertmanager" => Some(AlertSource::Alertmanager),
        "goalert" => Some(AlertSource::Goalert),
        "generic" => Some(AlertSource::Generic),
        _ => None,
    }
}

fn refused(e: &IntakeError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    error(status, e)
}

/// Reads the body up to the intake's limit; a larger body is refused without reading it all.
async fn read_body(mut payload: web::Payload, limit: usize, declared: Option<usize>) -> Result<Vec<u8>, HttpResponse> {
    if let Some(size) = declared
        && size > limit
    {
        return Err(refused(&IntakeError::TooLarge { size, limit }));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(4096).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| error(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(refused(&IntakeError::TooLarge { size: body.len() + chunk.len(), limit }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<HttpState>,
) -> HttpResponse {
    let Some(source) = source(&path) else {
        return error(StatusCode::NOT_FOUND, format!("no webhook receiver named {:?}", path.as_str()));
    };
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = Intake::check_content_type(header("content-type")) {
        return refused(&e);
    }
    let declared = header("content-length").and_then(|v| v.parse().ok());
    let body = match read_body(payload, state.intake.max_body_bytes(), declared).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match state.intake.receive(source, header("authorization"), &body).await {
        Ok(ack) => HttpResponse::Ok().json(ack),
        Err(e) => refused(&e),
    }
}
