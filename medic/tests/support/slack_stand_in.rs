//! A stand-in for Slack (Slack cannot run here): a local HTTP server speaking `chat.postMessage` and
//! incoming webhooks, which checks each request the way Slack does and answers the way Slack answers.
//!
//! - `POST /api/chat.postMessage`: `Authorization: Bearer <token>` (`not_authed` without, `invalid_auth` for
//!   another token), a JSON body (`invalid_json` otherwise), a known `channel` (`channel_not_found`), `text`
//!   or `blocks` (`no_text`), blocks within Block Kit's limits (`invalid_blocks`); replies HTTP 200
//!   `{"ok":true,"channel","ts","message"}` or `{"ok":false,"error"}`; when asked to rate-limit, HTTP 429
//!   with `Retry-After` and `{"ok":false,"error":"ratelimited"}`.
//! - `POST /services/<hook>`: a known hook (404 `no_service`), JSON (400 `invalid_payload`), `text` or
//!   `blocks` (400 `no_text`), valid blocks (400 `invalid_blocks`); replies 200 `ok`.
//!
//! Its block checks are written from Slack's documented limits, independently of medic's own code, so a
//! message medic gets wrong is refused here as Slack would refuse it. It can be taken down (the port stops
//! answering: connections are refused) and brought back on the same port.
#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A message Slack accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// `chat` or `webhook:<hook>`.
    pub via: String,
    pub channel: String,
    pub ts: String,
    /// The parent's ts when the message is a reply.
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
}

#[derive(Default)]
struct State {
    token: String,
    channels: HashSet<String>,
    hooks: HashSet<String>,
    posted: Vec<Posted>,
    /// Requests refused, with Slack's error code.
    refused: Vec<String>,
    /// How many of the next chat.postMessage calls answer 429.
    rate_limit_next: u32,
    next_ts: u64,
}

pub struct SlackStandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: Option<actix_web::dev::ServerHandle>,
}

impl SlackStandIn {
    /// Starts on 127.0.0.1 (a free port) with one bot token, the channels the bot is in, and the incoming
    /// webhooks (`T000/B000/XXX` paths) that exist.
    pub fn start(token: &str, channels: &[&str], hooks: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            hooks: hooks.iter().map(|h| h.to_string()).collect(),
            next_ts: 1_700_000_000_000_100,
            ..State::default()
        }));
        let mut stand_in = Self { addr: "127.0.0.1:0".parse().unwrap(), state, server: None };
        stand_in.serve();
        stand_in
    }

    fn serve(&mut self) {
        let state = self.state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                .route("/api/chat.postMessage", web::post().to(post_message))
                .route("/services/{hook:.*}", web::post().to(webhook))
        })
        .workers(1)
        .disable_signals()
        .bind(self.addr)
        .expect("the Slack stand-in binds its port");
        self.addr = server.addrs()[0];
        let server = server.run();
        self.server = Some(server.handle());
        actix_web::rt::spawn(server);
    }

    /// The Web API base URL (`api_url` of a chat sink).
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The URL of an incoming webhook.
    pub fn webhook_url(&self, hook: &str) -> String {
        format!("http://{}/services/{hook}", self.addr)
    }

    /// Slack is unreachable: the port refuses connections until [`SlackStandIn::come_back`].
    pub async fn go_down(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop(false).await;
        }
    }

    /// Slack answers again, on the same port.
    pub fn come_back(&mut self) {
        if self.server.is_none() {
            self.serve();
        }
    }

    /// The next `n` chat.postMessage calls are rate-limited (429, Retry-After: 1).
    pub fn rate_limit(&self, n: u32) {
        self.state.lock().unwrap().rate_limit_next = n;
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.state.lock().unwrap().posted.clone()
    }

    pub fn refused(&self) -> Vec<String> {
        self.state.lock().unwrap().refused.clone()
    }
}

impl Drop for SlackStandIn {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Stops the server even when the test failed; the future runs on the test's runtime if any.
            drop(server.stop(false));
        }
    }
}

fn slack_error(state: &Mutex<State>, error: &str) -> HttpResponse {
    state.lock().unwrap().refused.push(error.to_string());
    HttpResponse::Ok().json(serde_json::json!({ "ok": false, "error": error }))
}

async fn post_message(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    {
        let mut s = state.lock().unwrap();
        if s.rate_limit_next > 0 {
            s.rate_limit_next -= 1;
            s.refused.push("ratelimited".into());
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "1"))
                .json(serde_json::json!({ "ok": false, "error": "ratelimited" }));
        }
    }
    let token = state.lock().unwrap().token.clone();
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    match auth.and_then(|a| a.strip_prefix("Bearer ")) {
        None => return slack_error(&state, "not_authed"),
        Some(given) if given != token => return slack_error(&state, "invalid_auth"),
        Some(_) => {}
    }
    let json_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json_type {
        return slack_error(&state, "invalid_form_data");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return slack_error(&state, "invalid_json") };
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    if !state.lock().unwrap().channels.contains(&channel) {
        return slack_error(&state, "channel_not_found");
    }
    if let Err(code) = check_content(&body) {
        return slack_error(&state, code);
    }
    let mut s = state.lock().unwrap();
    s.next_ts += 1;
    let ts = format!("{}.{:06}", s.next_ts / 1_000_000, s.next_ts % 1_000_000);
    let posted = Posted {
        via: "chat".into(),
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts: body["thread_ts"].as_str().map(str::to_string),
        text: body["text"].as_str().unwrap_or_default().to_string(),
        blocks: body["blocks"].clone(),
    };
    s.posted.push(posted);
    HttpResponse::Ok().json(serde_json::json!({
        "ok": true, "channel": channel, "ts": ts,
        "message": { "type": "message", "text": body["text"], "ts": ts, "bot_id": "B0STANDIN" }
    }))
}

async fn webhook(
    req: HttpRequest,
    hook: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let refuse = |status: u16, code: &str| {
        state.lock().unwrap().refused.push(code.to_string());
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body(code.to_string())
    };
    if !state.lock().unwrap().hooks.contains(hook.as_str()) {
        return refuse(404, "no_service");
    }
    let json_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let Some(body) = json_type.then(|| serde_json::from_slice::<Value>(&body).ok()).flatten() else {
        return refuse(400, "invalid_payload");
    };
    if let Err(code) = check_content(&body) {
        return refuse(400, code);
    }
    let mut s = state.lock().unwrap();
    s.next_ts += 1;
    let ts = format!("{}.{:06}", s.next_ts / 1_000_000, s.next_ts % 1_000_000);
    s.posted.push(Posted {
        via: format!("webhook:{hook}"),
        channel: "webhook".into(),
        ts,
        thread_ts: body["thread_ts"].as_str().map(str::to_string),
        text: body["text"].as_str().unwrap_or_default().to_string(),
        blocks: body["blocks"].clone(),
    });
    HttpResponse::Ok().content_type("text/html").body("ok")
}

/// `text` or `blocks` must be there (`no_text`); blocks must be valid Block Kit (`invalid_blocks`).
fn check_content(body: &Value) -> Result<(), &'static str> {
    let text = body["text"].as_str().unwrap_or_default();
    let blocks = &body["blocks"];
    if text.trim().is_empty() && blocks.as_array().is_none_or(Vec::is_empty) {
        return Err("no_text");
    }
    if text.chars().count() > 40_000 {
        return Err("msg_too_long");
    }
    if !blocks.is_null() {
        check_blocks(blocks).map_err(|_| "invalid_blocks")?;
    }
    Ok(())
}

/// Slack's documented Block Kit limits, for the block types medic sends.
fn check_blocks(blocks: &Value) -> Result<(), String> {
    let blocks = blocks.as_array().ok_or("blocks is not an array")?;
    if blocks.len() > 50 {
        return Err(format!("{} blocks > 50", blocks.len()));
    }
    let mut ids = HashSet::new();
    for block in blocks {
        if let Some(id) = block.get("block_id") {
            let id = id.as_str().ok_or("block_id is not a string")?;
            if id.is_empty() || id.chars().count() > 255 || !ids.insert(id.to_string()) {
                return Err(format!("bad block_id {id:?}"));
            }
        }
        match block["type"].as_str() {
            Some("header") => text_object(&block["text"], 150, true)?,
            Some("section") => {
                let fields = block.get("fields").and_then(Value::as_array);
                if block.get("text").is_none() && fields.is_none() {
                    return Err("a section needs text or fields".into());
                }
                if let Some(text) = block.get("text") {
                    text_object(text, 3000, false)?;
                }
                if let Some(fields) = fields {
                    if fields.is_empty() || fields.len() > 10 {
                        return Err("1 to 10 fields".into());
                    }
                    for field in fields {
                        text_object(field, 2000, false)?;
                    }
                }
            }
            Some("divider") => {}
            Some("context") => {
                let elements = block["elements"].as_array().ok_or("context without elements")?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err("1 to 10 context elements".into());
                }
                for e in elements {
                    text_object(e, 3000, false)?;
                }
            }
            Some("actions") => {
                let elements = block["elements"].as_array().ok_or("actions without elements")?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err("1 to 25 action elements".into());
                }
                for e in elements {
                    if e["type"] != "button" {
                        return Err("only buttons are checked here".into());
                    }
                    text_object(&e["text"], 75, true)?;
                    let action_id = e["action_id"].as_str().unwrap_or_default();
                    if action_id.chars().count() > 255 {
                        return Err("action_id > 255".into());
                    }
                    if e.get("value").and_then(Value::as_str).is_some_and(|v| v.chars().count() > 2000) {
                        return Err("button value > 2000".into());
                    }
                    if let Some(style) = e.get("style")
                        && style != "primary"
                        && style != "danger"
                    {
                        return Err(format!("bad button style {style}"));
                    }
                }
            }
            other => return Err(format!("unknown block type {other:?}")),
        }
    }
    Ok(())
}

fn text_object(text: &Value, max: usize, plain_only: bool) -> Result<(), String> {
    let kind = text["type"].as_str().ok_or("text object without type")?;
    if kind != "plain_text" && (plain_only || kind != "mrkdwn") {
        return Err(format!("text type {kind} not allowed here"));
    }
    let content = text["text"].as_str().ok_or("text object without text")?;
    if content.is_empty() || content.chars().count() > max {
        return Err(format!("text of {} characters (1..={max})", content.chars().count()));
    }
    Ok(())
}

#[test]
fn the_stand_in_refuses_what_slack_refuses() {
    let long = "x".repeat(3001);
    let cases: Vec<(Value, Result<(), &str>)> = vec![
        (serde_json::json!({"text": "hi"}), Ok(())),
        (serde_json::json!({"text": ""}), Err("no_text")),
        (
            serde_json::json!({"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": long}}]}),
            Err("invalid_blocks"),
        ),
        (
            serde_json::json!({"text": "t", "blocks": (0..51).map(|_| serde_json::json!({"type": "divider"})).collect::<Vec<_>>()}),
            Err("invalid_blocks"),
        ),
        (
            serde_json::json!({"text": "t", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}),
            Err("invalid_blocks"),
        ),
        (
            serde_json::json!({"text": "t", "blocks": [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]}),
            Err("invalid_blocks"),
        ),
        (serde_json::json!({"text": "t", "blocks": [{"type": "actions", "elements": []}]}), Err("invalid_blocks")),
    ];
    for (body, expected) in cases {
        assert_eq!(check_content(&body), expected, "{body}");
    }
}
