//! The machine's real `kubectl`, run as a subprocess against a started lab, doing what an SRE does,
//! with output checked column by column against what a real cluster prints.
mod kubectl_support;

use std::time::Duration;

use anyhow::{Context, Result};
use kubectl_support::{Cluster, sections, table};
use medic_lab::store::Kind;
use serde_json::Value;

/// Fast enough that 30-second grace periods and rollouts take a second or two of real time.
const SPEED: f64 = 20.0;

fn header(rows: &[Vec<String>]) -> Vec<&str> {
    rows.first().map(|r| r.iter().map(String::as_str).collect()).unwrap_or_default()
}

#[test]
fn get_pods_all_namespaces_wide() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let rows = table(&cluster.ok(&["get", "pods", "-A", "-o", "wide"])?);
    assert_eq!(
        header(&rows),
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    );
    let expected: usize = cluster.lab().topology().services.iter().map(|s| s.replicas as usize).sum();
    assert_eq!(rows.len() - 1, expected, "one row per pod:\n{rows:?}");
    for row in &rows[1..] {
        assert_eq!(row[0], "shop");
        assert_eq!((row[2].as_str(), row[3].as_str(), row[4].as_str()), ("1/1", "Running", "0"), "{row:?}");
        assert!(row[6].starts_with("10.244."), "pod IP {row:?}");
        assert!(row[7].starts_with("lab-worker-"), "node {row:?}");
        assert_eq!((row[8].as_str(), row[9].as_str()), ("<none>", "<none>"));
    }
    // Plain `get pods` in the namespace: the five default columns only.
    let plain = table(&cluster.ok(&["get", "pods", "-n", "shop"])?);
    assert_eq!(header(&plain), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    // Label selectors and field selectors reach the server.
    let carts = table(&cluster.ok(&[
        "get",
        "pods",
        "-n",
        "shop",
        "-l",
        "app=cart",
        "--field-selector",
        "status.phase=Running",
    ])?);
    assert_eq!(carts.len() - 1, 2);
    assert!(carts[1..].iter().all(|r| r[0].starts_with("cart-")));
    Ok(())
}

#[test]
fn every_kubectl_version_the_dispatcher_picks_from_can_list() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let dir = std::path::Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut tried = 0;
    for minor in 27..=33 {
        let binary = dir.join(format!("kubectl.1.{minor}"));
        if !binary.exists() {
            continue;
        }
        tried += 1;
        let output =
            cluster.kubectl_with(binary.to_str().context("path")?, &["get", "pods", "-n", "shop", "-o", "wide"])?;
        let stdout = String::from_utf8(output.stdout)?;
        assert!(output.status.success(), "kubectl 1.{minor}: {}", String::from_utf8_lossy(&output.stderr));
        let rows = table(&stdout);
        assert_eq!(header(&rows)[..4], ["NAME", "READY", "STATUS", "RESTARTS"], "kubectl 1.{minor}");
        assert!(rows[1..].iter().all(|r| r[2] == "Running"), "kubectl 1.{minor}: {stdout}");
    }
    if tried == 0 {
        // The machine's kubectl is a single version: the dispatcher test above covers it.
        eprintln!("no versioned kubectl binaries next to the dispatcher");
    }
    Ok(())
}

#[test]
fn get_deployments_replicasets_nodes_services_events() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let output = cluster.ok(&["get", "deploy,rs,nodes,svc,events", "-n", "shop"])?;
    let parts = sections(&output);
    assert_eq!(parts.len(), 5, "{output}");

    let deployments = &parts[0];
    assert_eq!(header(deployments), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    let frontend = deployments.iter().find(|r| r[0] == "deployment.apps/frontend").context("frontend")?;
    assert_eq!(&frontend[1..4], ["2/2", "2", "2"]);

    let sets = &parts[1];
    assert_eq!(header(sets), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    let rs = sets.iter().find(|r| r[0].starts_with("replicaset.apps/frontend-")).context("frontend rs")?;
    assert_eq!(&rs[1..4], ["2", "2", "2"]);

    let nodes = &parts[2];
    assert_eq!(header(nodes), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(nodes.len() - 1, 3);
    for node in &nodes[1..] {
        assert!(node[0].starts_with("node/lab-worker-"));
        assert_eq!(node[1], "Ready");
        assert!(node[4].starts_with("v1."), "{node:?}");
    }

    let services = &parts[3];
    assert_eq!(header(services), ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    let cart = services.iter().find(|r| r[0] == "service/cart").context("cart service")?;
    assert_eq!(cart[1], "ClusterIP");
    assert!(cart[2].starts_with("10.96."));
    assert_eq!(cart[3], "<none>");
    assert!(cart[4].ends_with("/TCP"));

    let events = &parts[4];
    assert_eq!(header(events), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    let scheduled = events.iter().find(|r| r[2] == "Scheduled").context("a Scheduled event")?;
    assert_eq!(scheduled[1], "Normal");
    assert!(scheduled[3].starts_with("pod/"));
    assert!(scheduled[4].starts_with("Successfully assigned shop/"), "{scheduled:?}");
    assert!(events.iter().any(|r| r[2] == "ScalingReplicaSet" && r[3].starts_with("deployment/")));
    Ok(())
}

#[test]
fn describe_pod() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let pod = cluster.pod_of("checkout")?;
    let text = cluster.ok(&["describe", "pod", &pod, "-n", "shop"])?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .map(|l| l[name.len() + 1..].trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("Name"), pod);
    assert_eq!(field("Namespace"), "shop");
    assert!(field("Node").starts_with("lab-worker-"), "{text}");
    assert_eq!(field("Status"), "Running");
    assert!(field("IP").starts_with("10.244."));
    assert!(field("Controlled By").starts_with("ReplicaSet/checkout-"), "{text}");
    assert!(text.contains("    State:          Running"), "{text}");
    assert!(text.contains("    Ready:          True"));
    assert!(text.contains("    Restart Count:  0"));
    assert!(text.contains("Conditions:"));
    let events = text.split("Events:").nth(1).context("an Events section")?;
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(events.contains(reason), "event {reason} missing:\n{events}");
    }
    Ok(())
}

#[test]
fn describe_node_and_deployment() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    cluster.wait_for("node leases", Duration::from_secs(20), |c| {
        c.lab().store().list(Kind::Lease, Some("kube-node-lease")).0.len() == 3
    })?;
    let node = cluster.ok(&["describe", "node", "lab-worker-2"])?;
    assert!(node.contains("HolderIdentity:  lab-worker-2"), "{node}");
    assert!(!node.contains("Failed to get lease"), "{node}");
    assert!(node.contains("Ready            True"), "{node}");
    assert!(node.contains("Non-terminated Pods:"), "{node}");

    let deployment = cluster.ok(&["describe", "deployment", "checkout", "-n", "shop"])?;
    assert!(
        deployment.contains("Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable"),
        "{deployment}"
    );
    assert!(deployment.contains("RollingUpdateStrategy:  25% max unavailable, 25% max surge"), "{deployment}");
    assert!(deployment.contains("NewReplicaSet:"), "{deployment}");
    Ok(())
}

#[test]
fn get_watch_streams_changes_as_they_happen() -> Result<()> {
    use std::io::{BufRead, BufReader};
    let cluster = Cluster::start(SPEED)?;
    let pod = cluster.pod_of("shipping")?;
    let mut child = std::process::Command::new("kubectl")
        .args(["get", "pods", "-n", "shop", "-l", "app=shipping", "--watch", "--output-watch-events"])
        .env("KUBECONFIG", cluster.lab().kubeconfig_path())
        .env("HOME", cluster.home())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20))?;
    assert_eq!(table(&first)[0][..3], ["EVENT", "NAME", "READY"]);
    let added = rx.recv_timeout(Duration::from_secs(20))?;
    assert_eq!(table(&added)[0][..2], ["ADDED".to_string(), pod.clone()]);
    cluster.ok(&["delete", "pod", &pod, "-n", "shop", "--wait=false"])?;
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        let row = table(&line).remove(0);
        let done = row[0] == "DELETED" && row[1] == pod;
        seen.push(row);
        if done {
            break;
        }
    }
    child.kill()?;
    child.wait()?;
    assert!(seen.iter().any(|r| r[0] == "MODIFIED" && r[1] == pod && r[3] == "Terminating"), "{seen:?}");
    assert!(seen.iter().any(|r| r[0] == "DELETED" && r[1] == pod), "{seen:?}");
    assert!(seen.iter().any(|r| r[0] == "ADDED" && r[1] != pod), "the replacement appears: {seen:?}");
    Ok(())
}

#[test]
fn logs_and_previous_logs() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let pod = cluster.pod_of("catalog")?;
    cluster.wait_for("catalog to log", Duration::from_secs(20), |c| {
        c.ok(&["logs", &pod, "-n", "shop"]).is_ok_and(|l| l.lines().count() > 3)
    })?;
    let logs = cluster.ok(&["logs", &pod, "-n", "shop", "--tail", "3"])?;
    assert_eq!(logs.lines().count(), 3, "{logs}");
    let stamped = cluster.ok(&["logs", &pod, "-n", "shop", "--tail", "1", "--timestamps"])?;
    let stamp = stamped.split_whitespace().next().context("a timestamp")?;
    assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{stamped}");

    let never_restarted = cluster.fails(&["logs", &pod, "-n", "shop", "--previous"])?;
    assert!(never_restarted.contains("previous terminated container"), "{never_restarted}");

    // Kill the container the way Chaos Mesh does; the kubelet restarts it and keeps the old log.
    let container = container_of(&cluster, &pod)?;
    let chaos = format!(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata:\n  name: kill-catalog\n  namespace: shop\n\
         spec:\n  action: container-kill\n  mode: all\n  containerNames: [{container}]\n  selector:\n    pods:\n      shop: [{pod}]\n"
    );
    let path = cluster.write_file("kill.yaml", &chaos)?;
    cluster.ok(&["apply", "-f", &path])?;
    cluster.wait_for("the container to restart", Duration::from_secs(60), |c| restarts(c, &pod) >= 1)?;
    cluster.wait_for("the previous log", Duration::from_secs(30), |c| {
        c.ok(&["logs", &pod, "-n", "shop", "--previous"]).is_ok_and(|l| !l.is_empty())
    })?;
    let previous = cluster.ok(&["logs", &pod, "-n", "shop", "--previous"])?;
    assert_ne!(previous, cluster.ok(&["logs", &pod, "-n", "shop"])?, "the previous log is the old container's");
    Ok(())
}

#[test]
fn logs_of_a_pod_on_a_failed_node_cannot_be_fetched() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let rows = table(&cluster.ok(&["get", "pods", "-n", "shop", "-o", "wide", "--no-headers"])?);
    let pod = rows.iter().find(|r| r[6] == "lab-worker-2").context("a pod on lab-worker-2")?[0].clone();
    cluster.wait_for("its first lines", Duration::from_secs(20), |c| c.ok(&["logs", &pod, "-n", "shop"]).is_ok())?;
    let fault = "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: worker-2-down, namespace: shop}\n\
                 spec: {action: node-failure, nodeFailure: {nodes: [lab-worker-2]}}\n";
    cluster.ok(&["apply", "-f", &cluster.write_file("node-failure.yaml", fault)?])?;
    // The API server fetches logs from the node's kubelet, which is gone with the node.
    cluster.wait_for("the kubelet to be unreachable", Duration::from_secs(20), |c| {
        c.fails(&["logs", &pod, "-n", "shop"]).is_ok_and(|e| e.contains(":10250/containerLogs/shop/"))
    })?;
    let error = cluster.fails(&["logs", &pod, "-n", "shop"])?;
    assert!(error.contains("Error from server") && error.contains("connect: no route to host"), "{error}");
    // The pods of the other nodes still answer.
    let elsewhere = rows.iter().find(|r| r[6] != "lab-worker-2").context("a pod elsewhere")?[0].clone();
    cluster.ok(&["logs", &elsewhere, "-n", "shop", "--tail", "1"])?;
    Ok(())
}

fn container_of(cluster: &Cluster, pod: &str) -> Result<String> {
    let pods = cluster.pods();
    let found = pods.iter().find(|p| p.pointer("/metadata/name").and_then(Value::as_str) == Some(pod));
    found
        .and_then(|p| p.pointer("/spec/containers/0/name").and_then(Value::as_str))
        .map(str::to_string)
        .context("the pod's container")
}

fn restarts(cluster: &Cluster, pod: &str) -> i64 {
    cluster
        .pods()
        .iter()
        .find(|p| p.pointer("/metadata/name").and_then(Value::as_str) == Some(pod))
        .and_then(|p| p.pointer("/status/containerStatuses/0/restartCount").and_then(Value::as_i64))
        .unwrap_or(0)
}

#[test]
fn delete_pod_waits_for_it_and_the_replicaset_replaces_it() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let pod = cluster.pod_of("email")?;
    let output = cluster.ok(&["delete", "pod", &pod, "-n", "shop"])?;
    assert_eq!(output.trim(), format!("pod \"{pod}\" deleted"));
    assert!(cluster.lab().store().get(Kind::Pod, Some("shop"), &pod).is_none(), "kubectl returns once it is gone");
    cluster.wait_for("a replacement", Duration::from_secs(30), |c| c.pod_of("email").is_ok_and(|p| p != pod))?;
    let missing = cluster.fails(&["delete", "pod", &pod, "-n", "shop"])?;
    assert!(missing.contains(&format!("pods \"{pod}\" not found")), "{missing}");
    Ok(())
}

#[test]
fn scale_and_set_image_and_rollout_restart_status_undo() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    assert_eq!(
        cluster.ok(&["scale", "deployment/frontend", "-n", "shop", "--replicas=4"])?.trim(),
        "deployment.apps/frontend scaled"
    );
    cluster.wait_for("4 frontends", Duration::from_secs(30), |c| {
        c.ok(&["get", "deploy", "frontend", "-n", "shop", "--no-headers"]).is_ok_and(|o| table(&o)[0][1] == "4/4")
    })?;

    let restarted = cluster.ok(&["rollout", "restart", "deployment/cart", "-n", "shop"])?;
    assert_eq!(restarted.trim(), "deployment.apps/cart restarted");
    let status = cluster.ok(&["rollout", "status", "deployment/cart", "-n", "shop", "--timeout=90s"])?;
    assert!(status.trim_end().ends_with("deployment \"cart\" successfully rolled out"), "{status}");

    let image = cluster.lab().topology().service("cart").context("cart")?.image.clone();
    let container = container_of(&cluster, &cluster.pod_of("cart")?)?;
    let bad = format!("{container}={}:9.9.9-does-not-exist", image.rsplit_once(':').map_or(image.as_str(), |(r, _)| r));
    assert_eq!(
        cluster.ok(&["set", "image", "deployment/cart", &bad, "-n", "shop"])?.trim(),
        "deployment.apps/cart image updated"
    );
    cluster.wait_for("a pull failure", Duration::from_secs(30), |c| {
        c.ok(&["get", "pods", "-n", "shop", "-l", "app=cart"])
            .is_ok_and(|o| o.contains("ErrImagePull") || o.contains("ImagePullBackOff"))
    })?;
    let stuck = cluster.kubectl(&["rollout", "status", "deployment/cart", "-n", "shop", "--timeout=2s"])?;
    assert!(!stuck.status.success(), "a rollout to a missing image does not complete");

    let history = cluster.ok(&["rollout", "history", "deployment/cart", "-n", "shop"])?;
    assert!(history.contains("REVISION"), "{history}");
    let undone = cluster.ok(&["rollout", "undo", "deployment/cart", "-n", "shop"])?;
    assert_eq!(undone.trim(), "deployment.apps/cart rolled back");
    let status = cluster.ok(&["rollout", "status", "deployment/cart", "-n", "shop", "--timeout=90s"])?;
    assert!(status.contains("successfully rolled out"), "{status}");
    let images = cluster.ok(&[
        "get",
        "deploy",
        "cart",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])?;
    assert_eq!(images, image);
    cluster.wait_for("no pull failures", Duration::from_secs(60), |c| {
        c.ok(&["get", "pods", "-n", "shop", "-l", "app=cart"])
            .is_ok_and(|o| !o.contains("Image") && !o.contains("Terminating"))
    })?;
    Ok(())
}

#[test]
fn cordon_and_drain_move_pods_off_a_node() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    assert_eq!(cluster.ok(&["cordon", "lab-worker-1"])?.trim(), "node/lab-worker-1 cordoned");
    let nodes = table(&cluster.ok(&["get", "nodes"])?);
    let worker = nodes.iter().find(|r| r[0] == "lab-worker-1").context("node")?;
    assert_eq!(worker[1], "Ready,SchedulingDisabled");

    let drained = cluster.ok(&["drain", "lab-worker-1", "--ignore-daemonsets", "--timeout=120s"])?;
    assert!(drained.contains("node/lab-worker-1 already cordoned"), "{drained}");
    assert!(drained.contains("evicting pod shop/"), "{drained}");
    assert!(drained.trim_end().ends_with("node/lab-worker-1 drained"), "{drained}");
    let on_node =
        cluster.ok(&["get", "pods", "-A", "--field-selector", "spec.nodeName=lab-worker-1", "--no-headers"])?;
    assert_eq!(on_node.trim(), "", "no pod is left on the drained node");
    cluster.wait_for("the shop to recover on the other nodes", Duration::from_secs(90), Cluster::shop_available)?;
    let rows = table(&cluster.ok(&["get", "pods", "-n", "shop", "-o", "wide", "--no-headers"])?);
    assert!(rows.iter().all(|r| r[6] != "lab-worker-1" && r[2] == "Running"), "{rows:?}");
    assert_eq!(cluster.ok(&["uncordon", "lab-worker-1"])?.trim(), "node/lab-worker-1 uncordoned");
    Ok(())
}

#[test]
fn chaos_mesh_manifests_apply_get_and_delete() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let manifest = "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata:\n  name: recommendation-failure\n  namespace: shop\n\
                    spec:\n  action: pod-failure\n  mode: one\n  duration: \"30s\"\n  selector:\n    namespaces: [shop]\n    labelSelectors:\n      app: recommendation\n";
    let path = cluster.write_file("podchaos.yaml", manifest)?;
    assert_eq!(cluster.ok(&["apply", "-f", &path])?.trim(), "podchaos.chaos-mesh.org/recommendation-failure created");
    assert_eq!(cluster.ok(&["apply", "-f", &path])?.trim(), "podchaos.chaos-mesh.org/recommendation-failure unchanged");

    let rows = table(&cluster.ok(&["get", "podchaos", "-n", "shop"])?);
    assert_eq!(header(&rows), ["NAME", "ACTION", "DURATION", "AGE"]);
    assert_eq!(&rows[1][..3], ["recommendation-failure", "pod-failure", "30s"]);
    let applied = cluster.ok(&["get", "podchaos", "recommendation-failure", "-n", "shop", "-o", "json"])?;
    let applied: Value = serde_json::from_str(&applied)?;
    assert!(
        applied.pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration").is_some(),
        "client-side apply records what it applied"
    );

    let changed = cluster.write_file("podchaos2.yaml", &manifest.replace("\"30s\"", "\"60s\""))?;
    assert_eq!(
        cluster.ok(&["apply", "-f", &changed])?.trim(),
        "podchaos.chaos-mesh.org/recommendation-failure configured"
    );
    assert_eq!(table(&cluster.ok(&["get", "podchaos", "-n", "shop"])?)[1][2], "60s");

    let deleted = cluster.ok(&["delete", "-f", &changed])?;
    assert_eq!(deleted.trim(), "podchaos.chaos-mesh.org \"recommendation-failure\" deleted");
    let none = cluster.kubectl(&["get", "podchaos", "-n", "shop"])?;
    assert_eq!(String::from_utf8(none.stderr)?.trim(), "No resources found in shop namespace.");

    let unknown = cluster.fails(&["get", "podchaos", "nope", "-n", "shop"])?;
    assert!(unknown.contains("podchaos.chaos-mesh.org \"nope\" not found"), "{unknown}");
    Ok(())
}

#[test]
fn apply_built_in_kinds_with_client_side_apply() -> Result<()> {
    let cluster = Cluster::start(SPEED)?;
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: quarantine-payment\n  namespace: shop\n\
                  spec:\n  podSelector:\n    matchLabels:\n      app: payment\n  policyTypes: [Ingress, Egress]\n";
    let path = cluster.write_file("netpol.yaml", policy)?;
    assert_eq!(
        cluster.ok(&["apply", "-f", &path])?.trim(),
        "networkpolicy.networking.k8s.io/quarantine-payment created"
    );
    let rows = table(&cluster.ok(&["get", "netpol", "-n", "shop"])?);
    assert_eq!(header(&rows), ["NAME", "POD-SELECTOR", "AGE"]);
    assert_eq!(&rows[1][..2], ["quarantine-payment", "app=payment"]);

    // A ConfigMap change through apply: the strategic merge patch kubectl computes lands as written.
    let name = format!("{}-config", "frontend");
    let current = cluster.ok(&["get", "configmap", &name, "-n", "shop", "-o", "json"])?;
    let mut current: Value = serde_json::from_str(&current)?;
    current["data"]["LOG_LEVEL"] = Value::String("debug".into());
    for field in ["resourceVersion", "uid", "creationTimestamp"] {
        current["metadata"].as_object_mut().context("metadata")?.remove(field);
    }
    let path = cluster.write_file("cm.json", &current.to_string())?;
    let applied = cluster.ok(&["apply", "-f", &path])?;
    assert_eq!(applied.trim(), format!("configmap/{name} configured"));
    let level = cluster.ok(&["get", "configmap", &name, "-n", "shop", "-o", "jsonpath={.data.LOG_LEVEL}"])?;
    assert_eq!(level, "debug");
    let dry = cluster.ok(&["delete", "netpol", "quarantine-payment", "-n", "shop", "--dry-run=server"])?;
    assert!(dry.contains("deleted (server dry run)"), "{dry}");
    assert!(cluster.lab().store().get(Kind::NetworkPolicy, Some("shop"), "quarantine-payment").is_some());
    Ok(())
}
