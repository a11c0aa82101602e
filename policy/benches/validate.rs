//! Validation latency: one Deployment against medic's guard policies (the executor's gate, aim: p99 under
//! 200 µs) and one Pod against every policy of the Kyverno conformance suite. Criterion measures the means;
//! the p50/p99 of single validations are printed after.
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use medic_policy::{AdmissionRequest, Operation, PolicySet};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "labels": {"app": "checkout", "team": "payments"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}, "annotations": {"medic.io/incident": "0192f0c4"}},
                "spec": {
                    "serviceAccountName": "checkout",
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 10001},
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/shop/checkout:2.3.1",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "DB_HOST", "value": "postgres"}],
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true},
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}
                        },
                        {
                            "name": "proxy",
                            "image": "registry.example/mesh/proxy:1.20.0",
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}]
                }
            }
        }
    })
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-7d4f", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "web",
                "image": "nginx:1.27.0",
                "ports": [{"containerPort": 80}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}
            }],
            "volumes": [{"name": "cache", "emptyDir": {}}]
        }
    })
}

/// Every policy the conformance tests reference, as one set.
fn conformance_policies() -> PolicySet {
    let root = repo().join("../shared/conformance/kyverno");
    let mut docs = Vec::new();
    for test in medic_policy::harness::discover(&root).expect("conformance suite present") {
        let dir = test.parent().unwrap_or(Path::new("."));
        let Ok(test_docs) = medic_policy::yaml::load_file(&test) else { continue };
        let Some(policies) = test_docs.first().and_then(|d| d.value.get("policies")).and_then(Value::as_array) else {
            continue;
        };
        for p in policies.iter().filter_map(Value::as_str) {
            let path = dir.join(p);
            if path.is_file() {
                docs.extend(medic_policy::yaml::load_file(&path).unwrap_or_default());
            }
        }
    }
    PolicySet::from_documents(&docs).expect("conformance policies parse")
}

fn percentiles(label: &str, mut run: impl FnMut()) {
    for _ in 0..200 {
        run();
    }
    let mut samples: Vec<Duration> = (0..5000)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!("{label}: p50 {:?}  p99 {:?}  max {:?}  ({} samples)", at(0.50), at(0.99), at(1.0), samples.len());
}

fn main() {
    let guard = PolicySet::load_dirs(&[repo().join("policies")]).expect("guard policies load");
    let conformance = conformance_policies();
    let deploy = deployment();
    let pod = pod();
    let update =
        AdmissionRequest { operation: Operation::Update, old_object: Some(deploy.clone()), ..Default::default() };
    let create = AdmissionRequest::default();

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("deployment vs guard policies (CREATE)", |b| {
        b.iter(|| black_box(guard.validate(black_box(&deploy), &create)))
    });
    c.bench_function("deployment vs guard policies (UPDATE)", |b| {
        b.iter(|| black_box(guard.validate(black_box(&deploy), &update)))
    });
    c.bench_function("pod vs all conformance policies", |b| {
        b.iter(|| black_box(conformance.validate(black_box(&pod), &create)))
    });
    c.final_summary();

    println!();
    println!(
        "guard set: {} policies; conformance set: {} policies, {} rules",
        guard.len(),
        conformance.len(),
        conformance.policies().iter().map(|p| p.rules.len()).sum::<usize>()
    );
    percentiles("deployment vs guard policies (CREATE)", || {
        black_box(guard.validate(&deploy, &create));
    });
    percentiles("deployment vs guard policies (UPDATE)", || {
        black_box(guard.validate(&deploy, &update));
    });
    percentiles("pod vs all conformance policies", || {
        black_box(conformance.validate(&pod, &create));
    });
}
