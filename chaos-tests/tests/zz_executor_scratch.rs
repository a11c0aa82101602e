use medic_chaos_tests::{Rig, RigConfig, experiment};
use medic_core::ports::ClusterRead;
use std::time::Duration;

async fn post_alert(rig: &Rig, alertname: &str, labels: serde_json::Value) {
    let mut all = serde_json::json!({"alertname": alertname, "namespace": "shop", "severity": "warning", "job": "kube-state-metrics"});
    for (k, v) in labels.as_object().unwrap() {
        all[k] = v.clone();
    }
    let body = serde_json::json!({
        "receiver": "medic", "status": "firing", "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\", namespace=\"shop\"}}"),
        "groupLabels": {"alertname": alertname, "namespace": "shop"},
        "commonLabels": all, "commonAnnotations": {}, "externalURL": "http://am:9093", "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": all, "annotations": {"summary": alertname},
            "startsAt": rig.clock.now().to_string(), "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom/graph", "fingerprint": format!("{:016x}", alertname.len() * 7919)}]
    });
    let r = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/alertmanager", rig.medic.url()))
        .header("authorization", format!("Bearer {}", rig.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    println!("posted {alertname}: {}", r.status());
}

#[actix_rt::test]
async fn scratch_oom() {
    let rig = Rig::start(RigConfig { speed: 20.0, seed: 7, lab_alerts: false, ..RigConfig::default() }, |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.apply(&experiment("cart-memory-stress.yaml").unwrap()).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(rig.lab.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    let reader = medic_collector::KubeClusterRead::new(kube::Client::try_from(config).unwrap());
    let mut pod = None;
    for _ in 0..400 {
        let pods = reader.pods("shop", &[("app".to_string(), "cart".to_string())].into()).await.unwrap();
        if let Some(p) = pods.iter().find(|p| p.restarts() > 0) {
            pod = Some(p.name.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pod = pod.expect("a cart pod restarts");
    println!("crashing pod {pod}");
    post_alert(
        &rig,
        "KubePodCrashLooping",
        serde_json::json!({"pod": pod, "container": "cart", "reason": "CrashLoopBackOff"}),
    )
    .await;
    let result = rig.wait_until_settled(Duration::from_secs(1800)).await;
    match result {
        Ok(incident) => println!("=== oom\n{}", rig.timeline(&incident).await.unwrap()),
        Err(e) => println!("=== oom FAILED: {e:#}"),
    }
    rig.stop().await;
}
