//! Playbook loading and plan rendering, on the Director's path from decision to plan.
//! Run: `cargo bench -p medic-playbooks`.
use criterion::{Criterion, criterion_group, criterion_main};
use medic_core::context::{ContainerSpecSnapshot, WorkloadSnapshot};
use medic_core::{Hypothesis, IncidentContext, IncidentUid, ObjectRef, RootCauseClass};
use medic_playbooks::Catalog;
use std::collections::BTreeMap;
use std::hint::black_box;

fn hypothesis(class: RootCauseClass, params: &[(&str, &str)]) -> Hypothesis {
    Hypothesis {
        class,
        target: ObjectRef::deployment("shop", "cart"),
        confidence: 0.9,
        evidence: Vec::new(),
        playbook: Some(class.as_str().into()),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        specialist: "compute".into(),
    }
}

fn context() -> IncidentContext {
    IncidentContext {
        workloads: vec![WorkloadSnapshot {
            workload: ObjectRef::deployment("shop", "cart"),
            labels: BTreeMap::new(),
            selector: BTreeMap::from([("app".into(), "cart".into())]),
            replicas_desired: 2,
            replicas_ready: 2,
            replicas_available: 2,
            replicas_updated: 2,
            generation: 1,
            observed_generation: 1,
            revision: Some(2),
            conditions: Vec::new(),
            containers: vec![ContainerSpecSnapshot { name: "app".into(), ..Default::default() }],
            annotations: BTreeMap::new(),
        }],
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    c.bench_function("catalog: load and validate the built-in playbooks", |b| b.iter(|| Catalog::builtin().unwrap()));
    let catalog = Catalog::builtin().unwrap();
    let incident = IncidentUid::new();
    let cx = context();
    let oom = hypothesis(RootCauseClass::OomMemoryLimit, &[("memory_limit", "512Mi")]);
    c.bench_function("plan: oom-memory-limit (context-derived container)", |b| {
        b.iter(|| catalog.plan(black_box(&oom), incident, black_box(&cx)).unwrap())
    });
    let egress = hypothesis(RootCauseClass::SuspiciousEgress, &[]);
    c.bench_function("plan: suspicious-egress (selector from context)", |b| {
        b.iter(|| catalog.plan(black_box(&egress), incident, black_box(&cx)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
