//! The gathering against an in-memory cluster: what is read, what ends up in the context, and how failures
//! and lateness turn into gaps.
use super::*;
use crate::testing::*;
use medic_core::context::DependencyVia;

fn at(s: &str) -> Timestamp {
    t(s)
}

/// shop: web → cart → cart-redis (down, OOM-killed) and cart → orders (healthy) → orders-db (data namespace);
/// an unrelated `search` workload with its own trouble.
fn shop() -> InMemoryCluster {
    let mut redis_svc = service("shop", "cart-redis", Some(ObjectRef::deployment("shop", "cart-redis")), 0);
    redis_svc.cluster_ip = Some("10.96.3.4".into());
    let mut cluster = InMemoryCluster {
        deployments: vec![
            deployment("shop", "web", &[("CART_URL", "http://cart:8080")]),
            deployment("shop", "cart", &[("REDIS_ADDR", "cart-redis:6379"), ("ORDERS_URL", "http://orders")]),
            deployment("shop", "cart-redis", &[]),
            deployment(
                "shop",
                "orders",
                &[("DATABASE_URL", "postgres://app:pw@orders-db.data.svc.cluster.local:5432/o")],
            ),
            deployment("shop", "search", &[]),
            deployment("data", "orders-db", &[]),
        ],
        pods: vec![
            pod("shop", "web-5d4f8c7b9-aaaaa", "web", "node-1"),
            crashing(pod("shop", "cart-5d4f8c7b9-bbbbb", "cart", "node-1"), "Error", 1, 3),
            pod("shop", "cart-5d4f8c7b9-ccccc", "cart", "node-2"),
            crashing(pod("shop", "cart-redis-6c8f7d9b5-ddddd", "cart-redis", "node-2"), "OOMKilled", 137, 6),
            pod("shop", "orders-5d4f8c7b9-eeeee", "orders", "node-1"),
            crashing(pod("shop", "search-5d4f8c7b9-fffff", "search", "node-1"), "Error", 2, 9),
            pod("data", "orders-db-5d4f8c7b9-ggggg", "orders-db", "node-2"),
        ],
        services: vec![
            service("shop", "web", Some(ObjectRef::deployment("shop", "web")), 1),
            service("shop", "cart", Some(ObjectRef::deployment("shop", "cart")), 1),
            redis_svc,
            service("shop", "orders", Some(ObjectRef::deployment("shop", "orders")), 1),
            service("shop", "search", Some(ObjectRef::deployment("shop", "search")), 0),
            service("data", "orders-db", Some(ObjectRef::deployment("data", "orders-db")), 1),
        ],
        nodes: vec![node("node-1", Some(true)), node("node-2", Some(true)), node("node-3", Some(true))],
        events: vec![
            event("Pod", "shop", "cart-5d4f8c7b9-bbbbb", "BackOff", "2026-03-01T11:59:00Z"),
            event("Pod", "shop", "cart-5d4f8c7b9-zzzzz", "Killing", "2026-03-01T11:50:00Z"),
            event("Pod", "shop", "cart-redis-6c8f7d9b5-ddddd", "OOMKilling", "2026-03-01T11:58:00Z"),
            event("Deployment", "shop", "cart", "ScalingReplicaSet", "2026-03-01T11:00:00Z"),
            event("Pod", "shop", "search-5d4f8c7b9-fffff", "BackOff", "2026-03-01T11:59:30Z"),
        ],
        ..InMemoryCluster::default()
    };
    let mut log = |pod: &str, previous: bool, lines: &[&str]| {
        cluster.logs.insert(
            InMemoryCluster::log_key(if pod.starts_with("orders-db") { "data" } else { "shop" }, pod, "app", previous),
            lines.iter().map(|l| l.to_string()).collect(),
        );
    };
    log("cart-5d4f8c7b9-bbbbb", true, &["starting", "dial tcp 10.96.3.4:6379: connect: connection refused", "exit 1"]);
    log("cart-5d4f8c7b9-bbbbb", false, &["starting"]);
    log("cart-redis-6c8f7d9b5-ddddd", true, &["# Server initialized", "Killed"]);
    log("orders-5d4f8c7b9-eeeee", false, &["GET /orders 200"]);
    log("orders-db-5d4f8c7b9-ggggg", false, &["database system is ready to accept connections"]);
    cluster
}

async fn collect_for(cluster: &InMemoryCluster, labels: &[(&str, &str)], config: &CollectConfig) -> IncidentContext {
    let alerts = vec![alert("Alert", labels)];
    collect(cluster, IncidentUid::new(), alerts, config, at("2026-03-01T12:00:00Z")).await
}

fn names<T>(items: &[T], name: impl Fn(&T) -> String) -> Vec<String> {
    items.iter().map(name).collect()
}

#[tokio::test]
async fn a_crashing_workload_gets_its_pods_logs_dependencies_and_dependents() {
    let cluster = shop();
    let context =
        collect_for(&cluster, &[("namespace", "shop"), ("pod", "cart-5d4f8c7b9-bbbbb")], &CollectConfig::default())
            .await;
    assert_eq!(context.target, Some(ObjectRef::deployment("shop", "cart")));
    assert!(context.gaps.is_empty(), "{:?}", context.gaps);
    // The target first, then what it calls (one hop; orders is healthy so orders-db is not walked to), then
    // who calls it.
    assert_eq!(
        names(&context.workloads, |w| w.workload.to_string()),
        ["Deployment/shop/cart", "Deployment/shop/cart-redis", "Deployment/shop/orders", "Deployment/shop/web"]
    );
    let pods = names(&context.pods, |p| p.name.clone());
    assert!(pods.contains(&"cart-redis-6c8f7d9b5-ddddd".to_string()) && !pods.iter().any(|p| p.starts_with("search")));
    let edges: Vec<(String, String, DependencyVia)> =
        context.dependencies.iter().map(|d| (d.from.name.clone(), d.to.name.clone(), d.via.clone())).collect();
    assert!(edges.contains(&("cart".into(), "cart-redis".into(), DependencyVia::Config)), "{edges:?}");
    assert!(edges.contains(&("cart".into(), "cart-redis".into(), DependencyVia::Log)), "{edges:?}");
    assert!(edges.contains(&("cart".into(), "orders".into(), DependencyVia::Config)), "{edges:?}");
    assert!(edges.contains(&("web".into(), "cart".into(), DependencyVia::Config)), "{edges:?}");
    // Logs: the crashing cart pod's current and previous log first, the dependency's previous log; none of web.
    let logs: Vec<(String, bool)> = context.logs.iter().map(|l| (l.pod.clone(), l.previous)).collect();
    assert!(
        logs.contains(&("cart-5d4f8c7b9-bbbbb".into(), true)) && logs.contains(&("cart-5d4f8c7b9-bbbbb".into(), false))
    );
    assert!(logs.contains(&("cart-redis-6c8f7d9b5-ddddd".into(), true)));
    assert!(!logs.iter().any(|(p, _)| p.starts_with("web")));
    // Events of the incident's objects, also of a cart pod already replaced; not of search.
    let reasons = names(&context.events, |e| e.reason.clone());
    assert_eq!(reasons, ["ScalingReplicaSet", "Killing", "OOMKilling", "BackOff"]);
    let services = names(&context.services, |s| s.name.clone());
    assert!(services.contains(&"cart-redis".to_string()) && !services.contains(&"search".to_string()), "{services:?}");
    assert_eq!(names(&context.nodes, |n| n.name.clone()), ["node-1", "node-2"]);
}

#[tokio::test]
async fn lists_are_read_once_per_namespace_and_never_per_pod() {
    let cluster = shop();
    collect_for(&cluster, &[("namespace", "shop"), ("deployment", "cart")], &CollectConfig::default()).await;
    let calls = cluster.calls();
    for list in ["deployments shop", "pods shop", "services shop", "events shop", "network_policies shop", "nodes "] {
        assert_eq!(calls.iter().filter(|c| c.as_str() == list).count(), 1, "{list} in {calls:?}");
    }
    assert!(!calls.iter().any(|c| c.starts_with("pod ")), "no per-pod gets: {calls:?}");
}

#[tokio::test]
async fn a_failing_dependency_is_followed_one_hop_further_even_across_namespaces() {
    let mut cluster = shop();
    // orders now fails: its own dependency (orders-db, in another namespace) is read too.
    let orders = cluster.pods.iter_mut().find(|p| p.name.starts_with("orders-5d")).unwrap();
    *orders = crashing(orders.clone(), "Error", 1, 2);
    let context =
        collect_for(&cluster, &[("namespace", "shop"), ("deployment", "cart")], &CollectConfig::default()).await;
    let workloads = names(&context.workloads, |w| w.workload.to_string());
    assert!(workloads.contains(&"Deployment/data/orders-db".to_string()), "{workloads:?}");
    assert!(context.logs.iter().any(|l| l.pod.starts_with("orders-db")));
    assert!(context.dependencies.iter().any(|d| d.from.name == "orders" && d.to.name == "orders-db"));
    let db_edge = context.dependencies.iter().find(|d| d.to.name == "orders-db").unwrap();
    assert!(db_edge.detail.contains("orders-db.data.svc"), "{}", db_edge.detail);
    assert!(cluster.calls().contains(&"deployments data".to_string()));

    // With one hop only, the walk stops at orders.
    let one_hop = CollectConfig { max_hops: 1, ..CollectConfig::default() };
    let context = collect_for(&cluster, &[("namespace", "shop"), ("deployment", "cart")], &one_hop).await;
    assert!(!names(&context.workloads, |w| w.workload.name.clone()).contains(&"orders-db".to_string()));
}

#[tokio::test]
async fn logs_are_bounded_in_lines_and_pods() {
    let mut cluster = shop();
    let long: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    cluster.logs.insert(InMemoryCluster::log_key("shop", "cart-5d4f8c7b9-bbbbb", "app", false), long);
    let config = CollectConfig { log_tail_lines: 50, max_log_pods: 1, ..CollectConfig::default() };
    let context = collect_for(&cluster, &[("namespace", "shop"), ("deployment", "cart")], &config).await;
    let current = context.logs.iter().find(|l| l.pod == "cart-5d4f8c7b9-bbbbb" && !l.previous).unwrap();
    assert_eq!((current.lines.len(), current.truncated), (50, true));
    assert_eq!(current.lines.last().map(String::as_str), Some("line 499"));
    // One pod per workload: the crash-looping one, not its healthy sibling.
    assert!(!context.logs.iter().any(|l| l.pod == "cart-5d4f8c7b9-ccccc"));
}

#[tokio::test]
async fn a_node_alert_gathers_the_nodes_pods_and_events_without_reading_unreachable_logs() {
    let mut cluster = shop();
    cluster.nodes[1] = node("node-2", Some(false));
    cluster.events.push(EventSnapshot {
        namespace: Some("default".into()),
        involved: medic_core::context::InvolvedObject { kind: "Node".into(), name: "node-2".into(), namespace: None },
        ..event("Node", "default", "node-2", "NodeNotReady", "2026-03-01T11:58:30Z")
    });
    let context =
        collect_for(&cluster, &[("node", "node-2"), ("job", "kube-state-metrics")], &CollectConfig::default()).await;
    assert_eq!(context.target, Some(ObjectRef::node("node-2")));
    let pods = names(&context.pods, |p| p.name.clone());
    for on_node in ["cart-5d4f8c7b9-ccccc", "cart-redis-6c8f7d9b5-ddddd", "orders-db-5d4f8c7b9-ggggg"] {
        assert!(pods.contains(&on_node.to_string()), "{on_node} in {pods:?}");
    }
    assert!(context.events.iter().any(|e| e.reason == "NodeNotReady"));
    assert!(context.nodes.iter().any(|n| n.name == "node-2" && n.ready == Some(false)));
    let calls = cluster.calls();
    assert!(!calls.iter().any(|c| c.starts_with("logs ") && c.contains("ddddd")), "{calls:?}");
    assert!(context.gaps.iter().any(|g| g.contains("its node node-2 is not ready")), "{:?}", context.gaps);
}

#[tokio::test]
async fn failed_reads_become_gaps_and_the_rest_is_kept() {
    let mut cluster = shop();
    cluster.failing = vec!["events", "logs"];
    let context =
        collect_for(&cluster, &[("namespace", "shop"), ("deployment", "cart")], &CollectConfig::default()).await;
    assert_eq!(context.target, Some(ObjectRef::deployment("shop", "cart")));
    assert!(!context.pods.is_empty());
    assert!(context.events.is_empty() && context.logs.is_empty());
    assert!(
        context.gaps.iter().any(|g| g == "events of shop: cluster unavailable: events refused"),
        "{:?}",
        context.gaps
    );
    assert!(
        context.gaps.iter().any(|g| g.starts_with("previous log of shop/cart-5d4f8c7b9-bbbbb/app:")),
        "{:?}",
        context.gaps
    );
}

#[tokio::test(start_paused = true)]
async fn reads_later_than_the_deadline_are_gaps() {
    let mut cluster = shop();
    cluster.slow = vec![("logs", Duration::from_secs(60))];
    let config = CollectConfig { deadline_ms: 1_500, ..CollectConfig::default() };
    let started = tokio::time::Instant::now();
    let context = collect_for(&cluster, &[("namespace", "shop"), ("deployment", "cart")], &config).await;
    assert!(started.elapsed() < Duration::from_secs(2), "the deadline holds");
    assert!(context.logs.is_empty());
    assert!(
        context.gaps.iter().any(|g| g.ends_with("no answer within the 1500 ms collection deadline")),
        "{:?}",
        context.gaps
    );
    assert!(context.gaps.iter().any(|g| g.starts_with("dependencies: the deadline passed")), "{:?}", context.gaps);
    assert_eq!(context.workloads[0].workload, ObjectRef::deployment("shop", "cart"), "what was read in time stays");
}

#[tokio::test]
async fn alerts_that_name_nothing_or_something_gone_say_so() {
    let cluster = shop();
    let nothing = collect_for(&cluster, &[("severity", "page")], &CollectConfig::default()).await;
    assert_eq!(nothing.target, None);
    assert_eq!(nothing.gaps, ["target: the alerts name no namespace, workload, pod or node"]);
    assert!(cluster.calls().is_empty(), "nothing to read");

    let gone =
        collect_for(&cluster, &[("namespace", "shop"), ("deployment", "checkout")], &CollectConfig::default()).await;
    assert_eq!(gone.target, None);
    assert!(gone.gaps.contains(&"target: deployment shop/checkout not found".to_string()));

    // Only a namespace: its unhealthy workloads become the candidates.
    let mut cluster = shop();
    cluster.deployments.iter_mut().find(|d| d.workload.name == "search").unwrap().replicas_available = 0;
    let namespace = collect_for(&cluster, &[("namespace", "shop")], &CollectConfig::default()).await;
    assert_eq!(namespace.target, None);
    assert_eq!(namespace.workloads[0].workload, ObjectRef::deployment("shop", "search"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 5] = ["web", "cart", "cart-redis", "orders", "orders-db"];

    fn arb_env() -> impl Strategy<Value = Vec<(String, String)>> {
        let value = prop_oneof![
            prop::sample::select(NAMES.to_vec()).prop_map(|n| format!("{n}:8080")),
            prop::sample::select(NAMES.to_vec()).prop_map(|n| format!("http://{n}.shop.svc.cluster.local/x")),
            prop::sample::select(NAMES.to_vec()).prop_map(String::from),
            "\\PC{0,30}",
        ];
        prop::collection::vec(("[A-Z_]{1,12}", value), 0..4)
    }

    fn arb_cluster() -> impl Strategy<Value = InMemoryCluster> {
        let workload = (arb_env(), any::<bool>(), 0i32..4, prop::collection::vec("\\PC{0,60}", 0..4));
        prop::collection::vec(workload, NAMES.len()).prop_map(|workloads| {
            let mut cluster =
                InMemoryCluster { nodes: vec![node("node-1", Some(true)), node("node-2", None)], ..Default::default() };
            for (i, ((env, healthy, restarts, lines), name)) in workloads.into_iter().zip(NAMES).enumerate() {
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                cluster.deployments.push(deployment("shop", name, &env));
                let node_name = if i % 2 == 0 { "node-1" } else { "node-2" };
                let mut p = pod("shop", &format!("{name}-5d4f8c7b9-x{i}x{i}x"), name, node_name);
                p.pod_ip = Some(format!("10.244.0.{i}"));
                if !healthy {
                    p = crashing(p, "Error", 1, restarts);
                }
                let mut svc = service("shop", name, Some(ObjectRef::deployment("shop", name)), usize::from(healthy));
                svc.cluster_ip = Some(format!("10.96.0.{i}"));
                cluster.services.push(svc);
                for previous in [false, true] {
                    cluster.logs.insert(InMemoryCluster::log_key("shop", &p.name, "app", previous), lines.clone());
                }
                cluster.events.push(event("Pod", "shop", &p.name, "BackOff", "2026-03-01T11:59:00Z"));
                cluster.pods.push(p);
            }
            cluster
        })
    }

    fn arb_labels() -> impl Strategy<Value = Vec<(String, String)>> {
        let key = prop::sample::select(vec![
            "namespace",
            "deployment",
            "pod",
            "node",
            "service",
            "container",
            "replicaset",
            "job",
        ]);
        let value = prop_oneof![
            Just("shop".to_string()),
            prop::sample::select(NAMES.to_vec()).prop_map(String::from),
            Just("cart-5d4f8c7b9-x1x1x".to_string()),
            Just("node-2".to_string()),
            "[a-z0-9-]{0,12}",
        ];
        prop::collection::vec((key.prop_map(String::from), value), 0..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Whatever the cluster and the alert, collection finishes, the target comes first, and the context
        /// only holds what concerns its workloads.
        #[test]
        fn any_cluster_and_alert_give_a_coherent_context(cluster in arb_cluster(), labels in arb_labels()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let config = CollectConfig { max_events: 3, ..CollectConfig::default() };
            let context = runtime.block_on(collect_for(&cluster, &labels, &config));
            if let Some(target) = context.target.as_ref().filter(|t| t.kind == ObjectKind::Deployment) {
                prop_assert_eq!(&context.workloads[0].workload, target);
            }
            prop_assert!(context.events.len() <= 3);
            let included: Vec<&ObjectRef> = context.workloads.iter().map(|w| &w.workload).collect();
            for edge in &context.dependencies {
                prop_assert!(included.contains(&&edge.from), "edge from {} outside {:?}", edge.from, included);
                prop_assert!(edge.from != edge.to);
            }
            let on_target_node = |p: &PodSnapshot| context.target.as_ref().is_some_and(|t| t.kind == ObjectKind::Node && p.node.as_deref() == Some(t.name.as_str()));
            for pod in &context.pods {
                prop_assert!(pod.owner.as_ref().is_some_and(|o| included.contains(&o)) || on_target_node(pod), "{}", pod.name);
            }
            for log in &context.logs {
                prop_assert!(context.pods.iter().any(|p| p.name == log.pod), "log of {}", log.pod);
                prop_assert!(!log.lines.is_empty() && log.lines.len() <= config.log_tail_lines as usize);
            }
        }
    }
}
