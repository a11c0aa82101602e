//! The compliance test every specialist must pass: on any context — empty, healthy, or arbitrary — it does
//! not panic, and every hypothesis it returns is well formed and cites evidence.
use medic_core::context::*;
use medic_core::testkit::*;
use medic_core::{IncidentContext, ObjectRef};
use proptest::prelude::*;

use crate::specialist::{Specialist, default_specialists};

fn all() -> Vec<Box<dyn Specialist>> {
    default_specialists().iter().map(|c| c.build().expect("default configs are valid")).collect()
}

fn assert_well_formed(specialist: &dyn Specialist, ctx: &IncidentContext) {
    let hypotheses = specialist.analyse(ctx);
    for pair in hypotheses.windows(2) {
        assert!(pair[0].confidence >= pair[1].confidence, "{}: not ranked best first", specialist.name());
    }
    for h in hypotheses {
        assert_eq!(h.specialist, specialist.name());
        assert!((0.0..=1.0).contains(&h.confidence), "{}: confidence {}", specialist.name(), h.confidence);
        assert!(!h.evidence.is_empty(), "{}: {} without evidence", specialist.name(), h.class);
        assert!(h.evidence.iter().all(|e| !e.detail.trim().is_empty()));
        assert!(!h.target.name.is_empty());
        assert!(h.target.kind.is_cluster_scoped() || h.target.namespace.is_some());
        if let Some(p) = &h.playbook {
            assert!(!p.is_empty());
        }
    }
}

#[test]
fn every_specialist_handles_an_empty_context() {
    for s in all() {
        assert!(s.analyse(&IncidentContext::default()).is_empty(), "{} invents hypotheses", s.name());
    }
}

#[test]
fn every_specialist_is_silent_on_a_healthy_cluster() {
    let ctx = ContextBuilder::new()
        .node("node-1", Some(true))
        .deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {})
        .deployment("shop", "redis", "redis:7", 1, "node-1", |_, _| {})
        .service("shop", "redis", "redis", 6379, 1)
        .logs("shop", "cart-7d9f8c6b5-abcde", false, &["GET /cart 200 3ms", "connected to redis:6379"])
        .build();
    for s in all() {
        assert!(s.analyse(&ctx).is_empty(), "{} acts on a healthy cluster: {:?}", s.name(), s.analyse(&ctx));
    }
}

const LINES: &[&str] = &[
    "dial tcp 10.96.0.3:6379: connect: connection refused",
    "FATAL:  sorry, too many clients already",
    "java.lang.OutOfMemoryError: Java heap space",
    "stratum+tcp://45.9.148.21:4444",
    "HikariPool-1 - Connection leak detection triggered",
    "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
    "dial tcp: lookup x on 10.96.0.10:53: no such host",
    "panic: runtime error",
    "",
    "::::",
    "host='', port=0",
];

fn state() -> impl Strategy<Value = ContainerState> {
    prop_oneof![
        Just(ContainerState::Running { started_at: None }),
        ("[A-Za-z]{0,20}", any::<i32>()).prop_map(|(r, code)| terminated(&r, code, -10, -5)),
        "[A-Za-z]{0,20}".prop_map(|r| waiting(&r, "")),
        Just(ContainerState::Terminated {
            reason: None,
            exit_code: 137,
            signal: Some(9),
            message: None,
            started_at: None,
            finished_at: None
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_specialist_panics_or_misbehaves_on_arbitrary_contexts(
        states in proptest::collection::vec((state(), proptest::option::of(state()), 0i32..20), 1..6),
        lines in proptest::collection::vec(prop_oneof![proptest::sample::select(LINES).prop_map(String::from), ".{0,80}"], 0..12),
        node_ready in proptest::option::of(any::<bool>()),
        limit in proptest::option::of("[0-9]{1,4}(Mi|Gi|m|)|garbage"),
        metric_value in proptest::num::f64::ANY,
        replicas in -2i32..5,
    ) {
        let mut builder = ContextBuilder::new()
            .target(ObjectRef::deployment("ns", "app"))
            .node("node-1", node_ready)
            .deployment("ns", "app", "app:1", replicas, "node-1", |i, pod| {
                if let Some((state, last, restarts)) = states.get(i) {
                    pod.containers[0].state = state.clone();
                    pod.containers[0].last_state = last.clone();
                    pod.containers[0].restart_count = *restarts;
                    pod.containers[0].ready = matches!(state, ContainerState::Running { .. });
                    if let Some(l) = &limit {
                        pod.containers[0].limits.insert("memory".into(), l.clone());
                    }
                }
            })
            .service("ns", "app", "app", 5432, 0)
            .metric(signals::CPU_THROTTLED_RATIO, &[("pod", "app-7d9f8c6b5-abcde")], metric_value)
            .metric(signals::DB_CONNECTIONS_BY_CLIENT, &[("client", "app")], metric_value);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        builder = builder.logs("ns", "app-7d9f8c6b5-abcde", false, &refs);
        let ctx = builder.build();
        for s in all() {
            assert_well_formed(s.as_ref(), &ctx);
        }
    }
}
