//! The `pod-template-hash` of a Deployment's ReplicaSets.
//!
//! Kubernetes hashes the Go struct of the pod template with FNV-32a (plus the collision count) and
//! "safe-encodes" the decimal digits of the sum into the alphabet `bcdfghjklmnpqrstvwxz2456789`, which
//! gives the familiar `web-5d4f8c7b9` names. The lab hashes a canonical JSON form of the template
//! instead of Go's memory dump: the same shape of name, stable across runs and processes.
//!
//! Templates are compared the way `EqualIgnoreHash` does: the hash label is ignored, and null, empty
//! maps and empty lists count as absent (Kubernetes' semantic equality treats nil and empty alike).
use serde_json::Value;
use std::fmt::Write as _;

pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a, the hash Kubernetes uses for pod templates.
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Self(0x811c_9dc5)
    }
}

impl Fnv32a {
    pub fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u32::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }

    pub fn finish(self) -> u32 {
        self.0
    }
}

/// `rand.SafeEncodeString`: maps every character onto an alphabet without vowels (so no words form)
/// and without look-alike characters.
pub fn safe_encode(text: &str) -> String {
    text.chars().map(|c| SAFE_ALPHABET[(c as usize) % SAFE_ALPHABET.len()] as char).collect()
}

/// The pod-template-hash of a template (`spec.template` as JSON) with the Deployment's collision count.
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv32a::default();
    hasher.write(canonical(template).as_bytes());
    if let Some(count) = collision_count {
        hasher.write(&(count as u32).to_le_bytes());
    }
    safe_encode(&hasher.finish().to_string())
}

/// Whether two pod templates are the same, ignoring the `pod-template-hash` label.
pub fn templates_equal(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// A canonical JSON text of a template: keys sorted, the hash label dropped, null and empty
/// containers dropped.
pub fn canonical(template: &Value) -> String {
    let mut out = String::with_capacity(512);
    write_canonical(template, &mut out, Path::Root);
    out
}

/// Where in the template the writer is, so the hash label (and only it) is skipped.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    Root,
    Metadata,
    Labels,
    Other,
}

fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().all(is_absent),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn write_canonical(value: &Value, out: &mut String, path: Path) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(k, v)| !(is_absent(v) || (path == Path::Labels && k.as_str() == POD_TEMPLATE_HASH_LABEL)))
                .map(|(k, _)| k)
                .collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String(key.clone()));
                let child = match (path, key.as_str()) {
                    (Path::Root, "metadata") => Path::Metadata,
                    (Path::Metadata, "labels") => Path::Labels,
                    _ => Path::Other,
                };
                write_canonical(&map[key], out, child);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out, Path::Other);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let cases: &[(&str, u32)] = &[("", 0x811c9dc5), ("a", 0xe40c292c), ("foobar", 0xbf9cf968)];
        for (input, expected) in cases {
            let mut hasher = Fnv32a::default();
            hasher.write(input.as_bytes());
            assert_eq!(hasher.finish(), *expected, "{input:?}");
        }
    }

    #[test]
    fn safe_encoding_uses_the_kubernetes_alphabet() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let hash = pod_template_hash(&json!({"spec": {"containers": [{"name": "app", "image": "web:1"}]}}), None);
        assert!(hash.len() >= 6 && hash.len() <= 10, "{hash}");
        assert!(hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{hash}");
    }

    #[test]
    fn the_hash_ignores_key_order_nulls_and_its_own_label_but_not_content() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}});
        let b = json!({
            "spec": {"containers": [{"image": "web:1", "name": "app", "env": []}]},
            "metadata": {"creationTimestamp": null, "labels": {"pod-template-hash": "abc", "app": "web"}, "annotations": {}},
        });
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:2"}]}});
        assert_eq!(pod_template_hash(&a, None), pod_template_hash(&b, None));
        assert!(templates_equal(&a, &b));
        assert_ne!(pod_template_hash(&a, None), pod_template_hash(&c, None));
        assert!(!templates_equal(&a, &c));
        assert_ne!(pod_template_hash(&a, None), pod_template_hash(&a, Some(1)));
        // A label named like the hash elsewhere is content.
        let d = json!({"spec": {"nodeSelector": {"pod-template-hash": "x"}}});
        assert_ne!(canonical(&d), canonical(&json!({"spec": {}})));
    }
}
