//! Any text as a JMESPath query, a CEL expression and a pattern value, against a fixed object.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medic_policy::cel::{Activation, Program, Val};
use serde_json::json;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let object = json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}], "replicas": 3}
    });
    if let Ok(expr) = medic_policy::jmespath::compile(text) {
        let _ = medic_policy::jmespath::search(&expr, &object);
    }
    if let Ok(program) = Program::compile(text) {
        let mut vars = HashMap::new();
        vars.insert("object", Val::from_json(&object));
        let _ = program.eval(&Activation::new(vars, &[]));
    }
    let _ = medic_policy::pattern::match_pattern(&object, &json!({"spec": {"containers": [{"image": text}]}}));
    let _ = medic_policy::pattern::scalar::validate(&json!(text), &json!(text));
});
