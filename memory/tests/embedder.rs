//! The embedders. The hashing embedder's promise: the same failure on other pods, addresses and days gets
//! (nearly) the same vector, and different failures get distant ones. The Ollama embedder is exercised
//! against a stand-in for Ollama's `/api/embed` (Ollama cannot run here) that checks requests the way
//! Ollama does and answers in its format.
mod common;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::fixtures::{crash_loop, dependency_down, image_pull, later, memory_of, node_not_ready};
use medic_core::RootCauseClass;
use medic_core::ports::Embedder;
use medic_memory::embed::hashing::cosine;
use medic_memory::{EmbedderConfig, HashingEmbedder, MemoryBank, MemoryConfig, OllamaEmbedder, SymptomDigest};
use medic_store::StoreConfig;
use serde_json::{Value, json};
use std::time::Duration;

fn embed(context: &medic_core::IncidentContext) -> Vec<f32> {
    HashingEmbedder::new(1024, 0).embed_one(&SymptomDigest::of(context).text())
}

#[test]
fn the_same_failure_on_other_pods_addresses_and_days_embeds_the_same() {
    let a = embed(&crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1));
    for (pod, ip, seed) in [("cart-5f6d7c8b9-m2n4p", "10.244.3.17", 2), ("cart-9b8c7d6f5-q4w2z", "192.168.7.201", 23)] {
        let b = embed(&crash_loop("cart", pod, ip, seed));
        let similarity = cosine(&a, &b);
        assert!(similarity > 0.98, "{pod} {ip}: {similarity}");
    }
    // The same failure of another workload is still close.
    let other_workload = embed(&crash_loop("checkout", "checkout-6d7f8b9c5-t7v2x", "10.1.1.1", 3));
    let similarity = cosine(&a, &other_workload);
    assert!(similarity > 0.8, "{similarity}");
}

#[test]
fn different_failures_embed_far_apart() {
    let incidents = [
        ("oom crash loop", embed(&crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1))),
        ("image pull", embed(&image_pull("cart", "cart-7d9f8b6c4-x2x9z"))),
        ("dependency down", embed(&dependency_down("cart", "cart-7d9f8b6c4-x2x9z", "10.0.2.9"))),
        ("node not ready", embed(&node_not_ready("node-1"))),
    ];
    for (i, (a, va)) in incidents.iter().enumerate() {
        for (b, vb) in &incidents[i + 1..] {
            let similarity = cosine(va, vb);
            assert!(similarity < 0.45, "{a} vs {b}: {similarity}");
        }
    }
}

/// A stand-in for Ollama's `/api/embed`: POST with a JSON body `{"model", "input": string | [string]}`,
/// 404 `{"error": "model \"…\" not found, try pulling it first"}` for a model it does not have, 400 for a
/// body without a model; answers `{"model", "embeddings": [[…]], …}` (always 2-D). Its vectors are the
/// hashing embedder's, scaled by 3, so tests can tell they were normalised.
struct OllamaStandIn {
    url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for OllamaStandIn {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_rt::spawn(async move { handle.stop(false).await });
    }
}

const MODEL: &str = "all-minilm";
const DIM: usize = 384;

async fn embed_endpoint(request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/json") {
        return HttpResponse::BadRequest().json(json!({"error": "expected a JSON body"}));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"error": "invalid JSON"}));
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return HttpResponse::BadRequest().json(json!({"error": "model is required"}));
    };
    if model == "slow" {
        actix_rt::time::sleep(Duration::from_secs(5)).await;
    }
    if model != MODEL && model != "slow" {
        return HttpResponse::NotFound()
            .json(json!({"error": format!("model \"{model}\" not found, try pulling it first")}));
    }
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => return HttpResponse::BadRequest().json(json!({"error": "input must be a string or a list of strings"})),
    };
    let hashing = HashingEmbedder::new(DIM, 77);
    let embeddings: Vec<Vec<f32>> =
        inputs.iter().map(|t| hashing.embed_one(t).into_iter().map(|x| x * 3.0).collect()).collect();
    HttpResponse::Ok().json(json!({
        "model": model,
        "embeddings": embeddings,
        "total_duration": 14_143_917,
        "load_duration": 1_019_500,
        "prompt_eval_count": inputs.len() * 8,
    }))
}

async fn ollama_stand_in() -> OllamaStandIn {
    let server = HttpServer::new(|| App::new().route("/api/embed", web::post().to(embed_endpoint)))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("binds a free port");
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    OllamaStandIn { url: format!("http://{address}"), handle }
}

#[actix_rt::test]
async fn the_ollama_embedder_returns_unit_vectors_per_input() {
    let ollama = ollama_stand_in().await;
    let embedder = OllamaEmbedder::new(&ollama.url, MODEL, DIM, Duration::from_secs(5)).unwrap();
    assert_eq!(embedder.id(), "ollama:all-minilm");
    let texts = vec!["exit-code: 137".to_string(), "event: BackOff".to_string()];
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 2);
    let expected = HashingEmbedder::new(DIM, 77);
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_eq!(vector.len(), DIM);
        assert!((cosine(vector, vector) - 1.0).abs() < 1e-5, "normalised");
        assert!((cosine(vector, &expected.embed_one(text)) - 1.0).abs() < 1e-5, "the server's vector, in order");
    }
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}

#[actix_rt::test]
async fn ollama_errors_say_what_went_wrong() {
    let ollama = ollama_stand_in().await;
    let text = vec!["event: BackOff".to_string()];

    let missing = OllamaEmbedder::new(&ollama.url, "nomic-embed-text", 768, Duration::from_secs(5)).unwrap();
    let err = missing.embed(&text).await.unwrap_err().to_string();
    assert!(err.contains("not found, try pulling it first"), "{err}");

    let wrong_dimension = OllamaEmbedder::new(&ollama.url, MODEL, 768, Duration::from_secs(5)).unwrap();
    let err = wrong_dimension.embed(&text).await.unwrap_err().to_string();
    assert!(err.contains("dimension 384, the config says 768"), "{err}");

    let slow = OllamaEmbedder::new(&ollama.url, "slow", DIM, Duration::from_millis(200)).unwrap();
    let err = slow.embed(&text).await.unwrap_err().to_string();
    assert!(err.contains("no answer from") && err.contains("within"), "{err}");

    let nobody = OllamaEmbedder::new("http://127.0.0.1:9", MODEL, DIM, Duration::from_secs(2)).unwrap();
    let err = nobody.embed(&text).await.unwrap_err();
    assert_eq!(err.metric_label(), "unavailable", "{err}");
}

#[actix_rt::test]
async fn a_memory_configured_with_ollama_records_its_embedder_and_recalls() {
    let ollama = ollama_stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
    let mut config = MemoryConfig::new(dir.path().join("memory.faiss"));
    config.embedder =
        EmbedderConfig::Ollama { url: ollama.url.clone(), model: MODEL.into(), dimension: DIM, timeout_secs: 5 };
    let (bank, _) = MemoryBank::open(config, store.clone()).await.unwrap();
    let past = crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1);
    let lesson = memory_of(&past, RootCauseClass::OomMemoryLimit, "raise-memory-limit", true, None);
    bank.remember(lesson.clone()).await.unwrap();
    let row = store.memories_after(0, 10).await.unwrap().pop().unwrap();
    assert_eq!((row.embedder.as_str(), row.vector.len()), ("ollama:all-minilm", DIM));
    let now = later(crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.244.3.17", 6));
    let recalled = bank.recall(&now, now.incident, 3).await.unwrap();
    assert_eq!(recalled.first().map(|r| r.incident), Some(lesson.incident));
}
