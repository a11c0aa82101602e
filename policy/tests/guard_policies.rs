//! medic's own guard policies (`policies/` at the repository root): their Kyverno test suites pass, and
//! they block the remediations they exist to block.
use std::path::PathBuf;

use medic_policy::harness::{Verdict, run_paths};
use medic_policy::{AdmissionRequest, Operation, PolicySet, Status};
use serde_json::{Value, json};

fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn guard() -> PolicySet {
    PolicySet::load_dirs(&[policies_dir()]).expect("guard policies load")
}

fn blocking(set: &PolicySet, object: &Value, request: &AdmissionRequest) -> Vec<String> {
    set.validate(object, request)
        .into_iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
        .map(|r| format!("{}/{}", r.policy, r.rule))
        .collect()
}

fn deployment(image: &str, security: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": image,
                    "securityContext": security,
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
                }]}
            }
        }
    })
}

#[test]
fn every_guard_policy_has_a_passing_test_suite() {
    let report = run_paths(&[policies_dir()]).expect("suites run");
    let set = guard();
    assert_eq!(report.tests.len(), set.len(), "one kyverno-test.yaml per policy");
    for test in &report.tests {
        assert!(test.error.is_none(), "{}: {:?}", test.path, test.error);
        assert!(!test.rows.is_empty(), "{} has no result rows", test.path);
        for row in &test.rows {
            assert_eq!(
                row.verdict,
                Verdict::Pass,
                "{} {}/{} on {}: {}",
                test.path,
                row.policy,
                row.rule,
                row.resource,
                row.reason
            );
        }
        let expects_fail = test.rows.iter().any(|r| r.expected == "fail");
        assert!(expects_fail, "{} proves nothing is blocked", test.path);
    }
}

#[test]
fn a_remediation_that_would_make_a_workload_privileged_is_blocked() {
    let set = guard();
    let before = deployment("registry.example/shop/checkout:2.3.1", json!({}));
    let after = deployment("registry.example/shop/checkout:2.3.1", json!({"privileged": true}));
    let update =
        AdmissionRequest { operation: Operation::Update, old_object: Some(before.clone()), ..Default::default() };
    assert_eq!(blocking(&set, &after, &update), ["disallow-privileged-containers/autogen-privileged-containers"]);
    // The same object without the change passes every guard.
    assert!(blocking(&set, &before, &update).is_empty());
}

#[test]
fn a_rollback_to_an_unpinned_image_is_blocked() {
    let set = guard();
    let current = deployment("registry.example/shop/checkout:2.3.1", json!({}));
    let rolled_back = deployment("registry.example/shop/checkout:latest", json!({}));
    let update = AdmissionRequest { operation: Operation::Update, old_object: Some(current), ..Default::default() };
    let results = set.validate(&rolled_back, &update);
    let latest = results.iter().find(|r| r.rule == "autogen-disallow-latest").expect("rule applies");
    assert_eq!(latest.status, Status::Fail);
    assert!(latest.message.contains("latest tag is not allowed"), "{}", latest.message);
}

#[test]
fn a_quarantine_that_selects_the_whole_namespace_is_blocked() {
    let set = guard();
    let quarantine = |selector: Value| {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "medic-quarantine", "namespace": "shop"},
            "spec": {"podSelector": selector, "policyTypes": ["Ingress", "Egress"]}
        })
    };
    let create = AdmissionRequest::default();
    assert_eq!(
        blocking(&set, &quarantine(json!({})), &create),
        ["restrict-networkpolicy-empty-podselector/empty-podselector"]
    );
    assert!(blocking(&set, &quarantine(json!({"matchLabels": {"medic.io/quarantine": "web-1"}})), &create).is_empty());
}

#[test]
fn an_existing_violation_does_not_block_an_unrelated_fix() {
    // Kyverno reports a pattern violation on UPDATE only when the change introduces it: scaling a Deployment
    // that already runs privileged containers is not blocked by that policy.
    let set = guard();
    let mut before = deployment("registry.example/shop/checkout:2.3.1", json!({"privileged": true}));
    let mut after = before.clone();
    after["spec"]["replicas"] = json!(4);
    let update =
        AdmissionRequest { operation: Operation::Update, old_object: Some(before.clone()), ..Default::default() };
    let results = set.validate(&after, &update);
    let privileged = results.iter().find(|r| r.policy == "disallow-privileged-containers").expect("rule applies");
    assert_eq!(privileged.status, Status::Skip, "{}", privileged.message);
    // On CREATE the same object is refused.
    before["metadata"]["name"] = json!("checkout-copy");
    assert!(!blocking(&set, &before, &AdmissionRequest::default()).is_empty());
}

#[test]
fn policy_sets_can_be_shared_between_threads() {
    fn assert_shared<T: Send + Sync + 'static>() {}
    assert_shared::<PolicySet>();
    let set = std::sync::Arc::new(guard());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let set = set.clone();
            std::thread::spawn(move || {
                let image = if i % 2 == 0 { "nginx:latest" } else { "nginx:1.27.0" };
                set.validate(&deployment(image, json!({})), &AdmissionRequest::default()).len()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().expect("thread") > 0);
    }
}
