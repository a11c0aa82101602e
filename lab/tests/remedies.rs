//! Remedies work causally, and the wrong ones do not. Each test breaks the shop, applies a plausible
//! wrong remedy through the API as kubectl would and shows it does not help, then applies the right
//! one and shows the shop recovers.
#[path = "faults_support/mod.rs"]
mod support;

use anyhow::Result;
use serde_json::{Value, json};
use std::time::Duration;

use medic_lab::store::Kind;
use support::{TestLab, kubectl, total};

fn names(lab: &TestLab, app: &str) -> Vec<String> {
    lab.pods(app).iter().map(|p| p.name().to_string()).collect()
}

fn restarts_of(lab: &TestLab, pods: &[String]) -> u64 {
    pods.iter().filter_map(|p| lab.container_status(p)["restartCount"].as_u64()).sum()
}

fn oom_killed(lab: &TestLab, pod: &str) -> bool {
    lab.container_status(pod)["lastState"]["terminated"]["reason"] == "OOMKilled"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_the_memory_limit_stops_the_oom_kills_and_restarting_does_not() -> Result<()> {
    let mut lab = TestLab::shop(41);
    let client = lab.serve()?;
    kubectl::set_memory(&client, "orders", "orders", "256Mi").await?;
    assert!(
        lab.run_until(Duration::from_secs(120), |lab| lab.pods("orders").iter().any(|p| oom_killed(lab, p.name())))
    );

    // Wrong: a restart brings new pods with the same limit; they are killed the same way.
    kubectl::rollout_restart(&client, "orders", "2026-03-01T09:10:00Z").await?;
    lab.run(Duration::from_secs(120));
    let after_restart = names(&lab, "orders");
    assert!(after_restart.iter().any(|p| oom_killed(&lab, p)), "still OOMKilled after the restart");
    assert!(!lab.all_available() || restarts_of(&lab, &after_restart) > 0);

    // Right: a limit above the working set (~330Mi).
    kubectl::set_memory(&client, "orders", "orders", "640Mi").await?;
    assert!(lab.run_until(Duration::from_secs(180), |lab| lab.all_available()), "{}", lab.deployment_summary());
    let fixed = names(&lab, "orders");
    lab.run(Duration::from_secs(180));
    assert_eq!(restarts_of(&lab, &fixed), 0, "no more OOM kills");
    assert!(fixed.iter().all(|p| !oom_killed(&lab, p)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_clears_a_bad_rollout_and_deleting_the_pod_does_not() -> Result<()> {
    let mut lab = TestLab::shop(42);
    let client = lab.serve()?;
    let good = names(&lab, "frontend");
    kubectl::set_image(&client, "frontend", "frontend", "ghcr.io/medic-lab/shop-frontend:1.8.3").await?;
    lab.run(Duration::from_secs(60));
    let stuck: Vec<String> = names(&lab, "frontend").into_iter().filter(|p| !good.contains(p)).collect();
    assert_eq!(stuck.len(), 1);

    // Wrong: the ReplicaSet recreates the pod from the same template, with the same missing tag.
    kubectl::delete_pod(&client, &stuck[0]).await?;
    lab.run(Duration::from_secs(60));
    let replacement: Vec<String> = names(&lab, "frontend").into_iter().filter(|p| !good.contains(p)).collect();
    assert_eq!(replacement.len(), 1);
    assert_ne!(replacement[0], stuck[0]);
    let reason = lab.container_status(&replacement[0])["state"]["waiting"]["reason"].clone();
    assert!(reason == "ImagePullBackOff" || reason == "ErrImagePull", "{reason}");

    // Right: back to the previous revision's template.
    kubectl::rollout_undo(&client, lab.url(), "frontend").await?;
    assert!(lab.run_until(Duration::from_secs(120), |lab| {
        lab.all_available()
            && lab
                .pods("frontend")
                .iter()
                .all(|p| p.value["spec"]["containers"][0]["image"] == "ghcr.io/medic-lab/shop-frontend:1.8.2")
    }));
    let waiting =
        lab.pods("frontend").iter().filter(|p| !lab.container_status(p.name())["state"]["waiting"].is_null()).count();
    assert_eq!(waiting, 0);
    Ok(())
}

fn pods_on(lab: &TestLab, node: &str) -> Vec<String> {
    lab.store
        .list(Kind::Pod, Some("shop"))
        .0
        .iter()
        .filter(|p| !p.is_terminating() && p.value.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
        .map(|p| p.name().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_drain_move_pods_off_a_failed_node_and_cordon_alone_does_not() -> Result<()> {
    let mut lab = TestLab::shop(43);
    let client = lab.serve()?;
    assert!(!pods_on(&lab, "lab-worker-1").is_empty());
    lab.apply(
        "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: worker-1-down, namespace: shop}\n\
         spec: {action: node-failure, nodeFailure: {nodes: [lab-worker-1]}}\n",
    );
    lab.run(Duration::from_secs(50));
    assert!(!lab.all_available());

    // Wrong: cordoning keeps new pods away but moves nothing; until the eviction timeout the pods stay.
    kubectl::cordon(&client, "lab-worker-1").await?;
    lab.run(Duration::from_secs(60));
    assert!(!pods_on(&lab, "lab-worker-1").is_empty());
    assert!(!lab.all_available(), "{}", lab.deployment_summary());

    // Right: drain evicts them; their ReplicaSets replace them on the healthy nodes.
    kubectl::drain(&client, "lab-worker-1").await?;
    assert!(lab.run_until(Duration::from_secs(90), |lab| lab.all_available()), "{}", lab.deployment_summary());
    assert!(pods_on(&lab, "lab-worker-1").is_empty());
    assert!(lab.service_flow("frontend").1 < 0.01);
    Ok(())
}

const SURGE: &str = "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: catalog-crawl, namespace: shop}\n\
                     spec: {action: traffic-surge, mode: all, selector: {labelSelectors: {app: catalog}}, trafficSurge: {factor: 6}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_out_relieves_cpu_saturation_and_restarting_does_not() -> Result<()> {
    let mut lab = TestLab::shop(44);
    let client = lab.serve()?;
    lab.apply(SURGE);
    lab.run(Duration::from_secs(30));
    let (_, errors, _) = lab.service_flow("catalog");
    assert!(errors > 0.1, "saturated: {errors}");

    // Wrong: the same two pods, the same traffic.
    kubectl::rollout_restart(&client, "catalog", "2026-03-01T09:10:00Z").await?;
    assert!(lab.run_until(Duration::from_secs(120), |lab| lab.all_available()));
    lab.run(Duration::from_secs(30));
    assert!(lab.service_flow("catalog").1 > 0.1, "still saturated after the restart");

    // Right: the traffic spreads over four pods.
    kubectl::scale(&client, "catalog", 4).await?;
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available()));
    lab.run(Duration::from_secs(30));
    let (_, errors, latency) = lab.service_flow("catalog");
    assert!(errors < 0.001 && latency < 50.0, "relieved: errors {errors} latency {latency}");
    let metrics = lab.metrics();
    let pod = lab.pods("catalog")[0].name().to_string();
    let before = total(&metrics, "container_cpu_cfs_throttled_periods_total", &[("pod", &pod)]);
    lab.run(Duration::from_secs(60));
    let after = total(&lab.metrics(), "container_cpu_cfs_throttled_periods_total", &[("pod", &pod)]);
    assert!(after - before < 0.3 * 600.0, "mostly unthrottled: {} of 600 periods", after - before);
    Ok(())
}

const BEACON: &str = "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: payment-beacon, namespace: shop}\n\
                      spec: {action: egress, mode: all, selector: {labelSelectors: {app: payment}}, egress: {address: '203.0.113.50:4444'}}\n";

fn egress(lab: &TestLab, verdict: &str) -> f64 {
    total(&lab.metrics(), "lab_egress_connections_total", &[("destination", "203.0.113.50:4444"), ("verdict", verdict)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_all_network_policy_stops_the_egress_and_restarting_does_not() -> Result<()> {
    let mut lab = TestLab::shop(45);
    let client = lab.serve()?;
    lab.apply(BEACON);
    lab.run(Duration::from_secs(30));
    assert!(egress(&lab, "forwarded") > 0.0);

    // Wrong: the defect is in the image; the new pod calls out too.
    kubectl::rollout_restart(&client, "payment", "2026-03-01T09:10:00Z").await?;
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available()));
    let before = egress(&lab, "forwarded");
    lab.run(Duration::from_secs(30));
    assert!(egress(&lab, "forwarded") > before, "still calling out");

    // Right: quarantine the pods with a deny-all egress policy.
    kubectl::create_network_policy(
        &client,
        json!({"metadata": {"name": "quarantine-payment", "namespace": "shop"},
               "spec": {"podSelector": {"matchLabels": {"app": "payment"}}, "policyTypes": ["Egress"]}}),
    )
    .await?;
    lab.run(Duration::from_secs(5));
    let (forwarded, dropped) = (egress(&lab, "forwarded"), egress(&lab, "dropped"));
    lab.run(Duration::from_secs(60));
    assert_eq!(egress(&lab, "forwarded"), forwarded, "nothing leaves any more");
    assert!(egress(&lab, "dropped") > dropped, "the attempts are dropped");
    // Payment still answers its callers (ingress is untouched, it calls nothing).
    assert!(lab.service_flow("payment").1 < 0.01);
    Ok(())
}

const LEAK: &str = "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: shipping-leak, namespace: shop}\n\
                    spec: {action: connection-leak, mode: all, selector: {labelSelectors: {app: shipping}}, connectionLeak: {perMinute: 60, target: orders-db}}\n";

fn backends(lab: &TestLab) -> f64 {
    total(&lab.metrics(), "pg_stat_database_numbackends", &[("datname", "orders")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_leaking_client_frees_the_connections_and_restarting_its_caller_does_not() -> Result<()> {
    let mut lab = TestLab::shop(46);
    let client = lab.serve()?;
    lab.apply(LEAK);
    lab.run(Duration::from_secs(150));
    assert!(backends(&lab) >= 96.0);
    assert!(lab.service_flow("checkout").1 > 0.9);

    // Wrong: the checkout shows the errors, but restarting it frees nothing.
    kubectl::rollout_restart(&client, "checkout", "2026-03-01T09:10:00Z").await?;
    assert!(lab.run_until(Duration::from_secs(120), |lab| lab.all_available()));
    assert!(backends(&lab) >= 96.0);
    assert!(lab.service_flow("checkout").1 > 0.9, "checkout still fails");

    // Right: the leaking process goes, and its connections with it.
    let leaker = names(&lab, "shipping");
    kubectl::delete_pod(&client, &leaker[0]).await?;
    assert!(
        lab.run_until(Duration::from_secs(60), |lab| lab.all_available()
            && !names(lab, "shipping").contains(&leaker[0]))
    );
    lab.run(Duration::from_secs(5));
    let freed = backends(&lab);
    assert!(freed < 40.0, "connections freed: {freed}");
    assert!(lab.service_flow("shipping").1 < 0.01);
    assert!(lab.service_flow("checkout").1 < 0.01);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_pod_under_a_pod_scoped_network_fault_gives_a_healthy_replacement() -> Result<()> {
    let mut lab = TestLab::shop(47);
    let client = lab.serve()?;
    let victim = names(&lab, "cart")[0].clone();
    lab.apply(&format!(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {{name: cart-loss, namespace: shop}}\n\
         spec: {{action: loss, mode: all, selector: {{pods: {{shop: [{victim}]}}}}, loss: {{loss: '90'}}, duration: 30m}}\n"
    ));
    lab.run(Duration::from_secs(30));
    let (_, errors, _) = lab.service_flow("cart");
    assert!(errors > 0.2, "half the cart traffic goes to the lossy pod: {errors}");

    // Wrong: restarting the caller changes nothing on the path through the lossy pod.
    kubectl::rollout_restart(&client, "frontend", "2026-03-01T09:10:00Z").await?;
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available()));
    lab.run(Duration::from_secs(10));
    assert!(lab.service_flow("cart").1 > 0.2);

    // Right: the experiment holds that pod; its replacement is not in the experiment.
    kubectl::delete_pod(&client, &victim).await?;
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available() && lab.pod(&victim).is_none()));
    lab.run(Duration::from_secs(10));
    assert!(lab.service_flow("cart").1 < 0.01, "healthy: {}", lab.service_flow("cart").1);
    assert!(lab.service_flow("frontend").1 < 0.01);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_symptom_while_its_dependency_is_down_fixes_nothing() -> Result<()> {
    let mut lab = TestLab::shop(48);
    let client = lab.serve()?;
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: redis-down, namespace: shop}\n\
         spec: {action: pod-failure, mode: all, duration: 30m, selector: {labelSelectors: {app: cart-redis}}}\n",
    );
    lab.run(Duration::from_secs(30));
    assert!(lab.service_flow("cart").1 > 0.99);

    // Wrong: the cart is where the errors show, but its dependency is down.
    kubectl::rollout_restart(&client, "cart", "2026-03-01T09:10:00Z").await?;
    assert!(lab.run_until(Duration::from_secs(90), |lab| {
        lab.deployments()
            .iter()
            .find(|d| d.name() == "cart")
            .is_some_and(|d| d.value["status"]["updatedReplicas"] == 2 && d.value["status"]["availableReplicas"] == 2)
    }));
    lab.run(Duration::from_secs(10));
    assert!(lab.service_flow("cart").1 > 0.99, "the restarted cart still cannot reach Redis");
    assert!(lab.service_logs("cart").contains("ECONNREFUSED"));

    // The dependency back (the experiment ends): everything recovers without touching the cart.
    let chaos = lab.store.delete_with(Kind::PodChaos, Some("shop"), "redis-down", &Default::default());
    assert!(chaos.is_ok());
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available() && lab.service_flow("frontend").1 < 0.01));
    Ok(())
}
