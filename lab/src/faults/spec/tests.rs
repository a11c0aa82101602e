use super::*;
use serde_json::json;

fn experiment(kind: Kind, spec: Value) -> Value {
    json!({"metadata": {"name": "x", "namespace": "shop", "uid": "u1"}, "spec": spec})
        .as_object()
        .map(|o| {
            let mut o = o.clone();
            o.insert("kind".into(), json!(kind.kind()));
            Value::Object(o)
        })
        .unwrap()
}

#[test]
fn chaos_mesh_examples_parse() {
    let pod_kill = parse(
        Kind::PodChaos,
        &experiment(
            Kind::PodChaos,
            json!({"action": "pod-kill", "mode": "one", "selector": {"labelSelectors": {"app": "cart"}}}),
        ),
    )
    .unwrap();
    assert_eq!(pod_kill.fault, Fault::PodKill { grace_period_seconds: 0 });
    assert_eq!(pod_kill.selection.mode, Mode::One);
    // No namespaces: the experiment's own.
    assert_eq!(pod_kill.selection.selector.namespaces, ["shop"]);
    assert_eq!(pod_kill.duration, None);

    let delay = parse(
        Kind::NetworkChaos,
        &experiment(
            Kind::NetworkChaos,
            json!({"action": "delay", "mode": "all", "selector": {"namespaces": ["shop"], "labelSelectors": {"app": "cart"}},
                   "delay": {"latency": "90ms", "correlation": "25", "jitter": "10ms"}, "duration": "5m",
                   "direction": "both", "target": {"mode": "all", "selector": {"labelSelectors": {"app": "cart-redis"}}}}),
        ),
    )
    .unwrap();
    let Fault::Network { fault, direction, target } = &delay.fault else { panic!("{delay:?}") };
    assert_eq!(*fault, NetworkFault::Delay { latency: Duration::from_millis(90), jitter: Duration::from_millis(10) });
    assert_eq!(*direction, Direction::Both);
    assert_eq!(target.as_ref().unwrap().selector.label_selectors["app"], "cart-redis");
    assert_eq!(delay.duration, Some(Duration::from_secs(300)));

    let stress = parse(
        Kind::StressChaos,
        &experiment(
            Kind::StressChaos,
            json!({"mode": "fixed-percent", "value": "50", "selector": {"labelSelectors": {"app": "catalog"}},
                   "stressors": {"cpu": {"workers": 2, "load": 80}, "memory": {"workers": 1, "size": "256MB"}}}),
        ),
    )
    .unwrap();
    assert_eq!(stress.selection.mode, Mode::FixedPercent(50));
    assert_eq!(stress.fault, Fault::Stress { cpu_millis: 1600.0, memory_bytes: 256 << 20, containers: vec![] });

    let leak = parse(
        Kind::LabFault,
        &experiment(Kind::LabFault, json!({"action": "connection-leak", "mode": "all",
            "selector": {"labelSelectors": {"app": "shipping"}}, "connectionLeak": {"perMinute": 30, "target": "orders-db"}})),
    )
    .unwrap();
    assert_eq!(leak.fault, Fault::ConnectionLeak { per_minute: 30.0, target: Some("orders-db".into()) });
    let node = parse(
        Kind::LabFault,
        &experiment(Kind::LabFault, json!({"action": "node-failure", "nodeFailure": {"nodes": ["lab-worker-2"]}})),
    )
    .unwrap();
    assert_eq!(node.fault, Fault::NodeFailure { nodes: vec!["lab-worker-2".into()] });
    let egress = parse(
        Kind::LabFault,
        &experiment(
            Kind::LabFault,
            json!({"action": "egress", "mode": "all", "selector": {"labelSelectors": {"app": "payment"}},
            "egress": {"address": "203.0.113.50:4444", "bytesPerSecond": "64Ki"}}),
        ),
    )
    .unwrap();
    assert_eq!(
        egress.fault,
        Fault::Egress {
            address: "203.0.113.50:4444".into(),
            ip: "203.0.113.50".parse().unwrap(),
            port: 4444,
            bytes_per_second: 65536.0
        }
    );
}

/// One row per mistake the webhook refuses, with the phrase it says.
#[test]
fn the_webhook_refuses_what_chaos_mesh_refuses() {
    let cases: [(Kind, Value, &str); 10] = [
        (
            Kind::PodChaos,
            json!({"action": "pod-explode", "mode": "one"}),
            "spec.action: Unsupported value: \"pod-explode\"",
        ),
        (Kind::PodChaos, json!({"action": "pod-kill", "mode": "some"}), "spec.mode: Unsupported value: \"some\""),
        (
            Kind::PodChaos,
            json!({"action": "pod-kill", "mode": "fixed", "value": "zero"}),
            "spec.value: Invalid value: \"zero\"",
        ),
        (Kind::PodChaos, json!({"action": "pod-kill", "mode": "fixed-percent", "value": "150"}), "between 1 and 100"),
        (Kind::PodChaos, json!({"action": "container-kill", "mode": "one"}), "spec.containerNames"),
        (
            Kind::PodChaos,
            json!({"action": "pod-failure", "mode": "one", "duration": "soon"}),
            "spec.duration: Invalid value: \"soon\"",
        ),
        (
            Kind::NetworkChaos,
            json!({"action": "delay", "mode": "one", "delay": {"latency": "fast"}}),
            "spec.delay.latency",
        ),
        (
            Kind::NetworkChaos,
            json!({"action": "loss", "mode": "one", "loss": {"loss": "25"}, "direction": "both"}),
            "`from` and `both` direction cannot be used when targets is empty in netem action",
        ),
        (Kind::StressChaos, json!({"mode": "one"}), "spec.stressors"),
        (
            Kind::LabFault,
            json!({"action": "egress", "mode": "all", "egress": {"address": "somewhere"}}),
            "spec.egress.address",
        ),
    ];
    for (kind, spec, phrase) in cases {
        let denied = validate(kind, &experiment(kind, spec.clone())).expect_err(&spec.to_string());
        assert_eq!(denied.webhook, format!("v{}.kb.io", kind.kind().to_lowercase()));
        assert!(denied.message.contains(phrase), "{spec}: {}", denied.message);
        assert!(denied.to_string().starts_with("admission webhook \"v"), "{denied}");
    }
    // A partition needs no target; other kinds are not experiments.
    assert!(
        validate(
            Kind::NetworkChaos,
            &experiment(Kind::NetworkChaos, json!({"action": "partition", "mode": "all", "direction": "both"}))
        )
        .is_ok()
    );
    assert!(validate(Kind::Pod, &json!({})).is_ok());
}

#[test]
fn stress_sizes_are_binary() {
    assert_eq!(stress_size("256MB"), Some(256 << 20));
    assert_eq!(stress_size("1GB"), Some(1 << 30));
    assert_eq!(stress_size("512Mi"), Some(512 << 20));
    assert_eq!(stress_size("64KB"), Some(64 << 10));
    assert_eq!(stress_size("50%"), None);
}
