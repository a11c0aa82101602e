//! What an alert is about: its namespace, the workload it groups under, and the object it names.
//!
//! Alerts from kube-state-metrics and node exporters name objects through labels. The first of these
//! labels that is present decides: `deployment`, `statefulset`, `daemonset`, `replicaset` (its hash
//! stripped), `job_name`, `cronjob`, `pod` (its ReplicaSet and pod hash suffixes stripped, or its StatefulSet
//! ordinal), `node`, `service`, then Prometheus' `job` label as the last resort. Namespaced workloads group by
//! name alone, so a Deployment alert and an alert about one of its pods land in the same incident;
//! nodes group as `node/<name>`.
use medic_core::{Alert, ObjectKind, ObjectRef};

/// Characters Kubernetes uses for generated name suffixes (`rand.SafeEncodeString`): no vowels, so no
/// words form.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// What `SafeEncodeString` makes of the decimal digits `0`-`9`: the only characters of a pod-template-hash.
const TEMPLATE_HASH_ALPHABET: &[u8] = b"456789bcdf";

/// The namespace, grouping workload and target object of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AlertSubject {
    pub namespace: Option<String>,
    /// Alerts of the same namespace and workload group into one incident.
    pub workload: Option<String>,
    /// The most precise object the alert names (the pod rather than its deployment).
    pub target: Option<ObjectRef>,
}

/// Reads an alert's subject from its labels.
pub fn subject_of(alert: &Alert) -> AlertSubject {
    let namespace = alert.namespace().filter(|ns| !ns.is_empty()).map(str::to_owned);
    let label = |key: &str| alert.label(key).filter(|v| !v.is_empty());
    let in_namespace = |kind: ObjectKind, name: &str| namespace.as_deref().map(|ns| ObjectRef::new(kind, ns, name));
    let (workload, target) = if let Some(name) = label("deployment") {
        (name.to_owned(), in_namespace(ObjectKind::Deployment, name))
    } else if let Some(name) = label("statefulset") {
        (name.to_owned(), in_namespace(ObjectKind::StatefulSet, name))
    } else if let Some(name) = label("daemonset") {
        (name.to_owned(), in_namespace(ObjectKind::DaemonSet, name))
    } else if let Some(name) = label("replicaset") {
        (strip_replicaset_hash(name).to_owned(), in_namespace(ObjectKind::ReplicaSet, name))
    } else if let Some(name) = label("job_name").or_else(|| label("cronjob")) {
        (name.to_owned(), None)
    } else if let Some(name) = label("pod") {
        (pod_workload(name).to_owned(), in_namespace(ObjectKind::Pod, name))
    } else if let Some(name) = label("node") {
        (format!("node/{name}"), Some(ObjectRef::node(name)))
    } else if let Some(name) = label("service") {
        (name.to_owned(), in_namespace(ObjectKind::Service, name))
    } else if let Some(name) = label("job") {
        (name.to_owned(), None)
    } else {
        return AlertSubject { namespace, workload: None, target: None };
    };
    AlertSubject { namespace, workload: Some(workload), target }
}

/// The controller name of a pod: `cart-7d9f8b6c5-x2x4z` → `cart` (Deployment), `fluentd-x7k2p` → `fluentd`
/// (DaemonSet), `db-0` → `db` (StatefulSet), `backup-28374650-bk2zz` → `backup` (CronJob); any other name is
/// returned whole.
pub fn pod_workload(pod: &str) -> &str {
    let Some((base, last)) = pod.rsplit_once('-').filter(|(base, _)| !base.is_empty()) else {
        return pod;
    };
    if last.len() == 5 && last.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        let controller = base
            .rsplit_once('-')
            .filter(|(owner, hash)| !owner.is_empty() && (is_template_hash(hash) || is_cronjob_schedule(hash)));
        if let Some((owner, _)) = controller {
            return owner;
        }
        // Without a ReplicaSet hash before it, only a generated suffix counts, not a word like `proxy`.
        if is_safe(last) {
            return base;
        }
        return pod;
    }
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return base;
    }
    pod
}

/// `cart-7d9f8b6c5` → `cart`.
pub fn strip_replicaset_hash(replicaset: &str) -> &str {
    match replicaset.rsplit_once('-') {
        Some((owner, hash)) if !owner.is_empty() && is_template_hash(hash) => owner,
        _ => replicaset,
    }
}

/// A `pod-template-hash`: the decimal digits of a 32-bit hash, safe-encoded, so 5 to 10 characters (shorter
/// hashes are too rare to tell from a name) of `456789bcdf`, mostly digits.
fn is_template_hash(s: &str) -> bool {
    (5..=10).contains(&s.len())
        && s.bytes().all(|b| TEMPLATE_HASH_ALPHABET.contains(&b))
        && (s.len() >= 8 || s.bytes().any(|b| b.is_ascii_digit()))
}

/// A CronJob names its Jobs `<cronjob>-<scheduled time in minutes>`.
fn is_cronjob_schedule(s: &str) -> bool {
    s.len() >= 8 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_safe(s: &str) -> bool {
    s.bytes().all(|b| SAFE_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::{AlertSource, AlertStatus};
    use std::collections::BTreeMap;

    fn alert(labels: &[(&str, &str)]) -> Alert {
        Alert {
            source: AlertSource::Alertmanager,
            status: AlertStatus::Firing,
            fingerprint: "f".into(),
            name: "A".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: BTreeMap::new(),
            starts_at: jiff::Timestamp::UNIX_EPOCH,
            ends_at: None,
            group_key: None,
            generator_url: None,
        }
    }

    #[test]
    fn pod_names_lose_their_generated_suffixes() {
        let cases = [
            ("web-7d9f8-abcde", "web"),
            ("cart-5d4f8c7b9-x2x4z", "cart"),
            ("api-v2-5d4f8c7b9-x2x4z", "api-v2"),
            ("fluentd-x7k2p", "fluentd"),
            ("db-0", "db"),
            ("redis-cluster-12", "redis-cluster"),
            ("migrate-28374650-bk2zz", "migrate"),
            ("nginx-proxy", "nginx-proxy"),
            ("my-agent", "my-agent"),
            ("standalone", "standalone"),
            ("-x7k2p", "-x7k2p"),
            ("db-bdfgh-x7k2p", "db-bdfgh"),
        ];
        for (pod, workload) in cases {
            assert_eq!(pod_workload(pod), workload, "workload of pod {pod}");
        }
        assert_eq!(strip_replicaset_hash("cart-5d4f8c7b9"), "cart");
        assert_eq!(strip_replicaset_hash("cart-db"), "cart-db");
    }

    #[test]
    fn labels_decide_the_subject_in_order() {
        // (labels, namespace, workload, target)
        type Case =
            (Vec<(&'static str, &'static str)>, Option<&'static str>, Option<&'static str>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (
                vec![("namespace", "shop"), ("deployment", "cart"), ("pod", "cart-5d4f8c7b9-x2x4z")],
                Some("shop"),
                Some("cart"),
                Some("Deployment/shop/cart"),
            ),
            (
                vec![("namespace", "default"), ("pod", "web-7d9f8-abcde"), ("job", "kube-state-metrics")],
                Some("default"),
                Some("web"),
                Some("Pod/default/web-7d9f8-abcde"),
            ),
            (vec![("namespace", "db"), ("statefulset", "pg")], Some("db"), Some("pg"), Some("StatefulSet/db/pg")),
            (
                vec![("namespace", "o11y"), ("daemonset", "agent")],
                Some("o11y"),
                Some("agent"),
                Some("DaemonSet/o11y/agent"),
            ),
            (
                vec![("namespace", "shop"), ("replicaset", "cart-5d4f8c7b9")],
                Some("shop"),
                Some("cart"),
                Some("ReplicaSet/shop/cart-5d4f8c7b9"),
            ),
            (vec![("namespace", "batch"), ("job_name", "nightly")], Some("batch"), Some("nightly"), None),
            (vec![("node", "node-1"), ("job", "kube-state-metrics")], None, Some("node/node-1"), Some("Node/node-1")),
            (vec![("namespace", "shop"), ("service", "cart")], Some("shop"), Some("cart"), Some("Service/shop/cart")),
            (vec![("exported_namespace", "shop"), ("job", "blackbox")], Some("shop"), Some("blackbox"), None),
            (vec![("namespace", "shop")], Some("shop"), None, None),
            (vec![("namespace", ""), ("pod", "")], None, None, None),
            (vec![("pod", "web-0")], None, Some("web"), None),
        ];
        for (labels, namespace, workload, target) in cases {
            let subject = subject_of(&alert(&labels));
            assert_eq!(subject.namespace.as_deref(), namespace, "namespace of {labels:?}");
            assert_eq!(subject.workload.as_deref(), workload, "workload of {labels:?}");
            assert_eq!(subject.target.map(|t| t.to_string()).as_deref(), target, "target of {labels:?}");
        }
    }
}
