//! Alertmanager's alert fingerprint (`model.LabelSet.Fingerprint` of prometheus/common): FNV-1a 64
//! over the label names and values sorted by name, each followed by the separator byte 0xff; written
//! as 16 hex digits.
use std::collections::BTreeMap;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0xff;

fn add(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

pub fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    let mut hash = OFFSET;
    for (name, value) in labels {
        hash = add(hash, name.as_bytes());
        hash = add(hash, &[SEPARATOR]);
        hash = add(hash, value.as_bytes());
        hash = add(hash, &[SEPARATOR]);
    }
    hash
}

pub fn fingerprint_hex(labels: &BTreeMap<String, String>) -> String {
    format!("{:016x}", fingerprint(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The fingerprints in bodies a real Alertmanager sent (../shared/fixtures/alertmanager).
    #[test]
    fn matches_the_fingerprints_of_real_alertmanager_bodies() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/alertmanager");
        for file in [
            "alertmanager_payload.json",
            "alertmanager_payload_from_prometheus.json",
            "alertmanager_payload_resolved.json",
        ] {
            let text = std::fs::read_to_string(format!("{fixtures}/{file}")).expect("fixture");
            let body: Value = serde_json::from_str(&text).expect("json");
            for alert in body["alerts"].as_array().expect("alerts") {
                let labels: BTreeMap<String, String> = serde_json::from_value(alert["labels"].clone()).expect("labels");
                assert_eq!(fingerprint_hex(&labels), alert["fingerprint"].as_str().unwrap(), "{file}");
            }
        }
        assert_eq!(fingerprint_hex(&BTreeMap::new()), "cbf29ce484222325");
    }
}
