//! A stand-in for Ollama, for tests (Ollama and its models cannot run here). It speaks Ollama's REST API
//! as documented — `POST /api/chat` (a single JSON answer with `"stream": false`, NDJSON chunks otherwise),
//! `POST /api/embed`, `GET /api/tags`, `GET /api/version` — and checks requests the way Ollama does: a
//! JSON body, a `model` it has (404 `model "x" not found, try pulling it first` otherwise), messages with
//! known roles, a `format` that is `"json"` or a JSON schema. What the "model" answers is scripted per
//! test, per model: a message content (usually a JSON object), after a delay, or an error status. It
//! records every request it receives, so a test can check what medic sent.
//!
//! It is an actix-web server on 127.0.0.1 with a port the OS chooses; start it inside an actix runtime
//! (`#[actix_rt::test]`); it stops when dropped.
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stand-in's model does with one chat request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Answers with this message content.
    Content { content: String, delay: Duration, prompt_tokens: u64, answer_tokens: u64 },
    /// Fails with this HTTP status and Ollama's error body `{"error": message}`.
    Error { status: u16, message: String, delay: Duration },
}

impl Reply {
    /// Answers with `{"hypotheses": hypotheses}`.
    pub fn hypotheses(hypotheses: Value) -> Reply {
        Reply::content(json!({ "hypotheses": hypotheses }).to_string())
    }

    pub fn content(content: impl Into<String>) -> Reply {
        Reply::Content { content: content.into(), delay: Duration::ZERO, prompt_tokens: 600, answer_tokens: 120 }
    }

    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::Error { status, message: message.into(), delay: Duration::ZERO }
    }

    /// The same reply, after `delay`.
    pub fn after(self, delay: Duration) -> Reply {
        match self {
            Reply::Content { content, prompt_tokens, answer_tokens, .. } => {
                Reply::Content { content, delay, prompt_tokens, answer_tokens }
            }
            Reply::Error { status, message, .. } => Reply::Error { status, message, delay },
        }
    }

    /// The same answer, counted as this many prompt and answer tokens.
    pub fn tokens(self, prompt: u64, answer: u64) -> Reply {
        match self {
            Reply::Content { content, delay, .. } => {
                Reply::Content { content, delay, prompt_tokens: prompt, answer_tokens: answer }
            }
            other => other,
        }
    }
}

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The body as sent.
    pub body: String,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The chat request's model.
    pub fn model(&self) -> Option<String> {
        self.json().get("model").and_then(Value::as_str).map(str::to_string)
    }
}

#[derive(Debug, Default)]
struct State {
    models: BTreeSet<String>,
    queued: BTreeMap<String, VecDeque<Reply>>,
    standing: BTreeMap<String, Reply>,
    requests: Vec<Recorded>,
}

/// A running stand-in for Ollama.
pub struct OllamaStandIn {
    url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl std::fmt::Debug for OllamaStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OllamaStandIn").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Drop for OllamaStandIn {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_rt::spawn(async move { handle.stop(false).await });
    }
}

const EMBEDDING_DIMENSION: usize = 384;

impl OllamaStandIn {
    /// Starts a stand-in that has the given models pulled.
    pub async fn start(models: &[&str]) -> OllamaStandIn {
        let state =
            Arc::new(Mutex::new(State { models: models.iter().map(|m| m.to_string()).collect(), ..State::default() }));
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .app_data(web::PayloadConfig::new(16 << 20))
                .route("/api/chat", web::post().to(chat))
                .route("/api/embed", web::post().to(embed))
                .route("/api/tags", web::get().to(tags))
                .route("/api/version", web::get().to(version))
                .default_service(web::to(not_found))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("the Ollama stand-in binds a free port");
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        OllamaStandIn { url: format!("http://{address}"), state, handle }
    }

    /// The base URL, for `[llm] url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a reply of `model` for one chat request; queued replies go first, in order.
    pub fn script(&self, model: &str, reply: Reply) {
        self.lock().queued.entry(model.to_string()).or_default().push_back(reply);
    }

    /// What `model` answers whenever nothing is queued (by default: no hypotheses, at once).
    pub fn always(&self, model: &str, reply: Reply) {
        self.lock().standing.insert(model.to_string(), reply);
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The chat requests received, oldest first.
    pub fn chats(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path == "/api/chat").collect()
    }
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn error(status: u16, message: impl Into<String>) -> HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

fn record(state: &Shared, request: &HttpRequest, body: &[u8]) {
    lock(state).requests.push(Recorded {
        method: request.method().to_string(),
        path: request.path().to_string(),
        body: String::from_utf8_lossy(body).into_owned(),
    });
}

/// The JSON body and its model, checked as Ollama checks them.
fn parse(state: &Shared, body: &[u8]) -> Result<(Value, String), Box<HttpResponse>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Box::new(error(400, format!("invalid JSON body: {e}"))))?;
    let Some(model) = value.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()).map(str::to_string) else {
        return Err(Box::new(error(400, "model is required")));
    };
    if !lock(state).models.contains(&model) {
        return Err(Box::new(error(404, format!("model \"{model}\" not found, try pulling it first"))));
    }
    Ok((value, model))
}

fn check_chat(value: &Value) -> Result<(), String> {
    let Some(messages) = value.get("messages").and_then(Value::as_array) else {
        return Err("messages must be a list".into());
    };
    for (i, m) in messages.iter().enumerate() {
        match m.get("role").and_then(Value::as_str) {
            Some("system" | "user" | "assistant" | "tool") => {}
            Some(role) => return Err(format!("messages[{i}]: invalid role {role:?}")),
            None => return Err(format!("messages[{i}]: role is required")),
        }
        if !m.get("content").is_none_or(Value::is_string) {
            return Err(format!("messages[{i}]: content must be a string"));
        }
    }
    match value.get("format") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "json" => {}
        Some(Value::Object(schema)) if schema.contains_key("type") => {}
        Some(other) => return Err(format!("invalid format: {other}: expected \"json\" or a JSON schema")),
    }
    if let Some(options) = value.get("options")
        && !options.is_object()
    {
        return Err("options must be an object".into());
    }
    for number in ["temperature", "seed", "num_ctx"] {
        if let Some(v) = value.get("options").and_then(|o| o.get(number))
            && !v.is_number()
        {
            return Err(format!("options.{number} must be a number"));
        }
    }
    Ok(())
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

async fn chat(state: Shared, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    record(&state, &request, &body);
    let (value, model) = match parse(&state, &body) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    if let Err(problem) = check_chat(&value) {
        return error(400, problem);
    }
    let reply = {
        let mut s = lock(&state);
        s.queued
            .get_mut(&model)
            .and_then(VecDeque::pop_front)
            .or_else(|| s.standing.get(&model).cloned())
            .unwrap_or_else(|| Reply::hypotheses(json!([])))
    };
    let (content, delay, prompt_tokens, answer_tokens) = match reply {
        Reply::Error { status, message, delay } => {
            actix_rt::time::sleep(delay).await;
            return error(status, message);
        }
        Reply::Content { content, delay, prompt_tokens, answer_tokens } => {
            (content, delay, prompt_tokens, answer_tokens)
        }
    };
    actix_rt::time::sleep(delay).await;
    let nanos = delay.as_nanos().min(u128::from(u64::MAX)) as u64;
    let done = json!({
        "model": model,
        "created_at": now(),
        "message": {"role": "assistant", "content": ""},
        "done_reason": "stop",
        "done": true,
        "total_duration": nanos + 1_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": nanos / 4,
        "eval_count": answer_tokens,
        "eval_duration": nanos / 2,
    });
    if value.get("stream").and_then(Value::as_bool) == Some(false) {
        let mut single = done;
        single["message"]["content"] = Value::String(content);
        return HttpResponse::Ok().json(single);
    }
    // Ollama streams by default: one NDJSON object per piece of the answer, then the closing one.
    let mut ndjson = String::new();
    for piece in content.split_inclusive(' ') {
        let chunk = json!({"model": model, "created_at": now(), "message": {"role": "assistant", "content": piece}, "done": false});
        ndjson.push_str(&chunk.to_string());
        ndjson.push('\n');
    }
    ndjson.push_str(&done.to_string());
    ndjson.push('\n');
    HttpResponse::Ok().content_type("application/x-ndjson").body(ndjson)
}

/// A deterministic unit vector for a text (character trigrams hashed into the dimension).
fn embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; EMBEDDING_DIMENSION];
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    for window in chars.windows(3) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for c in window {
            h ^= u64::from(*c);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        v[(h % EMBEDDING_DIMENSION as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

async fn embed(state: Shared, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    record(&state, &request, &body);
    let (value, model) = match parse(&state, &body) {
        Ok(parsed) => parsed,
        Err(response) => return *response,
    };
    let inputs: Vec<String> = match value.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
        }
        _ => return error(400, "input must be a string or a list of strings"),
    };
    HttpResponse::Ok().json(json!({
        "model": model,
        "embeddings": inputs.iter().map(|t| embedding(t)).collect::<Vec<_>>(),
        "total_duration": 14_143_917,
        "load_duration": 1_019_500,
        "prompt_eval_count": inputs.iter().map(|t| t.split_whitespace().count()).sum::<usize>(),
    }))
}

async fn tags(state: Shared, request: HttpRequest) -> HttpResponse {
    record(&state, &request, b"");
    let models: Vec<Value> = lock(&state)
        .models
        .iter()
        .map(|m| json!({"name": m, "model": m, "modified_at": now(), "size": 0, "digest": "", "details": {"format": "gguf"}}))
        .collect();
    HttpResponse::Ok().json(json!({ "models": models }))
}

async fn version(state: Shared, request: HttpRequest) -> HttpResponse {
    record(&state, &request, b"");
    HttpResponse::Ok().json(json!({"version": "0.6.2"}))
}

async fn not_found(state: Shared, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    record(&state, &request, &body);
    HttpResponse::NotFound().body("404 page not found")
}
