//! `medic policy test` on Kyverno's own CLI tests (../shared/conformance/kyverno): the figures per category
//! are pinned, so that a regression in the engine fails this test.
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/kyverno")
}

fn run_suite() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["policy", "test", "--json"])
        .arg(conformance_dir())
        .output()
        .expect("medic runs");
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    // Some rows fail by design (see below), so the command reports failure.
    assert_eq!(out.status.code(), Some(1), "exit status");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn category<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["categories"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["category"] == name))
        .unwrap_or_else(|| panic!("category {name} missing"))
}

fn figures(c: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| c[k].as_u64().unwrap_or(u64::MAX);
    (n("rows_passed"), n("rows_total"), n("tests_passed"), n("tests_total"))
}

#[test]
fn kyverno_cli_tests_pass_at_the_recorded_rates() {
    let report = run_suite();
    // (rows passed, rows, tests fully passed, tests)
    assert_eq!(figures(category(&report, "policies: pure")), (1099, 1099, 96, 96));
    assert_eq!(figures(category(&report, "policies: extctx")), (30, 30, 12, 12));
    assert_eq!(figures(category(&report, "policies: cel")), (1004, 1004, 83, 83));
    assert_eq!(figures(category(&report, "kyverno-cli: core")), (137, 145, 50, 54));

    // The rows that fail are exactly those no offline engine can pass: Kyverno's negative tests (which its
    // CI runs expecting failure: the policy or the resource they name does not exist) and the registry
    // test, which Kyverno's CI runs with `--registry` against live image registries.
    let mut failing: Vec<String> = Vec::new();
    for test in report["tests"].as_array().expect("tests") {
        let path = test["path"].as_str().unwrap_or_default();
        for row in test["rows"].as_array().expect("rows") {
            if row["verdict"] == "fail" {
                let dir = path.rsplit('/').nth(1).unwrap_or_default();
                failing.push(format!("{dir}: {} {} {}", row["policy"], row["rule"], row["resource"]).replace('"', ""));
            }
        }
    }
    failing.sort();
    assert_eq!(
        failing,
        [
            "missing-policy: missing validate-image-tag test",
            "missing-resource: disallow-latest-tag validate-image-tag missing",
            "missing-rule: disallow-latest-tag missing test",
            "registry: check-image-base check-image-base-rule test-pod-with-trusted-registry",
            "registry: check-manifest-list check-manifest-list-rule test-pod-with-single-arch-index",
            "registry: check-manifest-list check-manifest-list-rule test-pod-with-trusted-registry",
            "registry: images only-allow-trusted-images test-pod-with-non-root-user-image",
            "registry: images only-allow-trusted-images test-pod-with-trusted-registry",
        ]
    );
}
