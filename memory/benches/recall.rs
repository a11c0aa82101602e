//! The memory's share of the path from alert to fix: turning a collected context into a symptom digest
//! (log lines to templates), embedding it, and searching the index, on a crash-looping workload with a
//! full log excerpt.
//!
//! `cargo bench -p medic-memory --bench recall`
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use medic_core::IncidentContext;
use medic_core::ObjectRef;
use medic_core::testkit::{ContextBuilder, alert, running, terminated, waiting};
use medic_memory::template::template;
use medic_memory::{HashingEmbedder, MemoryIndex, SymptomDigest};

/// A crash loop with 100 lines of previous-container log, as the collector bounds them.
fn context(seed: usize) -> IncidentContext {
    let pod = format!("cart-7d9f8b6c4-x{}x9z", seed % 10);
    let lines: Vec<String> = (0..100)
        .map(|i| match i % 4 {
            0 => format!("2026-03-01T12:00:{:02}.{i:03}Z INFO GET /api/cart/{} 200 {}ms req_id=9f3a{i:04}c2", i % 60, 1000 + i, i % 40),
            1 => format!("2026-03-01T12:00:{:02}Z WARN pool 10.244.{}.{}:5432 slow acquire {}ms", i % 60, i % 3, i, i * 7),
            2 => format!("{{\"level\":\"error\",\"ts\":1772366400.{i},\"msg\":\"dial tcp 10.96.0.{i}:6379: connect: connection refused\"}}"),
            _ => format!("java.lang.OutOfMemoryError: Java heap space at com.shop.Cart.load(Cart.java:{})", 100 + i),
        })
        .collect();
    let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    ContextBuilder::new()
        .alert(alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", pod.as_str())]))
        .target(ObjectRef::deployment("shop", "cart"))
        .deployment("shop", "cart", "registry.local/cart:1.4.2", 3, "node-1", |_, p| {
            p.containers[0] = running("app", "img", -60).crashed(
                5,
                terminated("OOMKilled", 137, -120, -60),
                waiting("CrashLoopBackOff", "back-off 40s restarting failed container=app"),
            );
        })
        .event(
            "Pod",
            "shop",
            &pod,
            "Warning",
            "BackOff",
            &format!("Back-off restarting failed container app in pod {pod}"),
        )
        .logs("shop", &pod, true, &line_refs)
        .build()
}

fn hot_path(c: &mut Criterion) {
    let ctx = context(1);
    let line = "2026-03-01T12:00:07.123Z WARN pool 10.244.1.17:5432 slow acquire 35ms req_id=9f3a0042c2 pod=cart-7d9f8b6c4-x2x9z";
    c.bench_function("template one log line", |b| b.iter(|| template(black_box(line))));
    c.bench_function("digest of a crash-loop context (100 log lines)", |b| {
        b.iter(|| SymptomDigest::of(black_box(&ctx)))
    });
    let embedder = HashingEmbedder::new(1024, 0);
    let text = SymptomDigest::of(&ctx).text();
    c.bench_function("hashing embedding of the digest (1024 dimensions)", |b| {
        b.iter(|| embedder.embed_one(black_box(&text)))
    });

    let mut group = c.benchmark_group("exact search, 1024 dimensions");
    for n in [1_000usize, 10_000, 50_000] {
        let mut index = MemoryIndex::exact(1024).unwrap();
        let vectors: Vec<f32> =
            (0..n).flat_map(|i| embedder.embed_one(&format!("log: line {i}\nevent: E{}", i % 97))).collect();
        let ids: Vec<i64> = (1..=n as i64).collect();
        index.add(&ids, &vectors).unwrap();
        let query = embedder.embed_one(&text);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| index.search(black_box(&query), 40).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
