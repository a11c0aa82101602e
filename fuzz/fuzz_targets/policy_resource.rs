//! Any bytes as a policy file and a resource file: loading either may fail, evaluating must not panic.
//! The input is split at the first line `---resource` (policies before it, objects after it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use medic_policy::{AdmissionRequest, Operation, PolicySet};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (policies, resources) = text.split_once("\n---resource\n").unwrap_or((text, ""));
    let Ok(set) = PolicySet::from_yaml(policies, Path::new("fuzz-policies.yaml")) else { return };
    let Ok(objects) = medic_policy::yaml::parse_documents(resources, Path::new("fuzz-resources.yaml")) else { return };
    for object in &objects {
        for operation in [Operation::Create, Operation::Update, Operation::Delete] {
            let request = AdmissionRequest { operation, ..Default::default() };
            let _ = set.validate(&object.value, &request);
        }
    }
});
