//! The real programs: the generated configs pass `promtool`/`amtool`, medic's rules pass their promtool
//! tests, Prometheus scrapes a running lab and loads every rule, and both programs are gone once the stack
//! is dropped. Skipped (with a message) where Debian's packages are not installed.
use medic_lab::{Lab, LabConfig};
use medic_promstack::{Binaries, RuleFile, Stack, StackConfig, api};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn binaries() -> Option<Binaries> {
    match Binaries::locate() {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn run(program: &Path, args: &[&str]) -> String {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} {args:?} failed:\n{text}", program.display());
    text
}

#[test]
fn promtool_and_amtool_accept_what_the_stack_writes_and_medics_rules_pass_their_tests() {
    let Some(binaries) = binaries() else { return };
    let rules_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let tested =
        run(&binaries.promtool(), &["test", "rules", rules_dir.join("medic-rules.test.yml").to_str().unwrap()]);
    assert!(tested.contains("SUCCESS"), "{tested}");

    let dir = tempfile::tempdir().unwrap();
    let config = StackConfig::for_lab("127.0.0.1:6443")
        .with_receiver("http://127.0.0.1:8080/v1/webhooks/alertmanager", Some("token".into()));
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for rule in config.effective_rules().unwrap() {
        let file = rules.join(&rule.name);
        std::fs::write(&file, &rule.yaml).unwrap();
        let checked = run(&binaries.promtool(), &["check", "rules", file.to_str().unwrap()]);
        assert!(checked.contains("SUCCESS"), "{checked}");
    }
    let prometheus_yml = dir.path().join("prometheus.yml");
    std::fs::write(&prometheus_yml, config.prometheus_yaml(&rules.display().to_string(), "127.0.0.1:9093")).unwrap();
    run(&binaries.promtool(), &["check", "config", prometheus_yml.to_str().unwrap()]);
    let alertmanager_yml = dir.path().join("alertmanager.yml");
    std::fs::write(&alertmanager_yml, config.alertmanager_yaml()).unwrap();
    run(&binaries.amtool(), &["check-config", alertmanager_yml.to_str().unwrap()]);
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purposes: `stat`'s third field is its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_lab_loads_every_rule_and_both_stop_when_dropped() {
    let Some(binaries) = binaries() else { return };
    let lab = Lab::start(LabConfig { seed: 3, ..LabConfig::default() }).await.unwrap();
    let target = lab.url().trim_start_matches("http://").to_string();
    let mut stack = Stack::start(&binaries, StackConfig::for_lab(target)).await.unwrap();
    stack.wait_scraped(2, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}\n{}", stack.logs(20)));

    let client = reqwest::Client::new();
    let deployments = api::instant(
        &client,
        stack.prometheus_url(),
        r#"count(kube_deployment_spec_replicas{job="kube-state-metrics", namespace="shop"})"#,
    )
    .await
    .unwrap();
    let count = deployments.first().and_then(|s| s.value).map(|(_, v)| v);
    assert_eq!(
        count,
        Some(lab.topology().services.len() as f64),
        "every deployment is scraped under job kube-state-metrics"
    );

    let rules: serde_json::Value = client
        .get(format!("{}/api/v1/rules?type=alert", stack.prometheus_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded: Vec<(String, f64, String)> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["duration"].as_f64().unwrap(),
                r["health"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let declared: Vec<String> =
        [RuleFile::lab(), RuleFile::medic()].iter().flat_map(|f| f.alerts().unwrap()).map(|a| a.alert).collect();
    assert_eq!(loaded.len(), declared.len(), "{loaded:?}");
    for name in &declared {
        let (_, duration, health) =
            loaded.iter().find(|(n, ..)| n == name).unwrap_or_else(|| panic!("{name} not loaded"));
        assert!(*duration <= 5.0, "{name}: for {duration}s");
        assert_ne!(health, "err", "{name} evaluates");
    }

    let am_ready = format!("{}/-/ready", stack.alertmanager_url());
    let prom_ready = format!("{}/-/ready", stack.prometheus_url());
    stack.stop_prometheus();
    assert!(client.get(&prom_ready).send().await.is_err(), "Prometheus is down");
    assert!(client.get(&am_ready).send().await.unwrap().status().is_success(), "Alertmanager still runs");

    let pids = stack.pids();
    let dir = stack.dir().to_path_buf();
    assert!(pids.iter().all(|p| alive(*p)));
    drop(stack);
    assert!(pids.iter().all(|p| !alive(*p)), "both programs are gone once the stack is dropped");
    assert!(!dir.exists(), "the temporary directory is removed");
    lab.stop().await;
}
