//! Defaulting, as the API server applies it on every write: the fields a real cluster fills in when a
//! manifest leaves them out (so `kubectl describe` and `get -o yaml` show what users expect).
use serde_json::{Map, Value, json};

use super::Kind;

/// Fill in the defaults of `kind` on `object` (idempotent).
pub(super) fn apply(kind: Kind, object: &mut Value) {
    match kind {
        Kind::Pod => {
            let spec = object_field(object, "spec");
            pod_spec(spec);
            default_tolerations(spec);
            spec.entry("enableServiceLinks").or_insert(json!(true));
            spec.entry("preemptionPolicy").or_insert(json!("PreemptLowerPriority"));
            spec.entry("priority").or_insert(json!(0));
            let qos = qos_class(spec);
            let status = object_field(object, "status");
            status.entry("phase").or_insert_with(|| json!("Pending"));
            status.entry("qosClass").or_insert_with(|| json!(qos));
        }
        Kind::Deployment => {
            let spec = object_field(object, "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            let strategy = field(spec, "strategy");
            strategy.entry("type").or_insert(json!("RollingUpdate"));
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let rolling = field(strategy, "rollingUpdate");
                rolling.entry("maxSurge").or_insert(json!("25%"));
                rolling.entry("maxUnavailable").or_insert(json!("25%"));
            }
            template(spec);
        }
        Kind::ReplicaSet => {
            let spec = object_field(object, "spec");
            spec.entry("replicas").or_insert(json!(1));
            template(spec);
        }
        Kind::Service => {
            let spec = object_field(object, "spec");
            spec.entry("type").or_insert(json!("ClusterIP"));
            spec.entry("sessionAffinity").or_insert(json!("None"));
            spec.entry("internalTrafficPolicy").or_insert(json!("Cluster"));
            spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
            spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    port.entry("protocol").or_insert(json!("TCP"));
                    if let Some(number) = port.get("port").cloned() {
                        port.entry("targetPort").or_insert(number);
                    }
                }
            }
            object_field(object, "status").entry("loadBalancer").or_insert(json!({}));
        }
        Kind::Namespace => {
            let name = object.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
            let metadata = object_field(object, "metadata");
            field(metadata, "labels").entry("kubernetes.io/metadata.name").or_insert(name);
            object_field(object, "spec").entry("finalizers").or_insert(json!(["kubernetes"]));
            object_field(object, "status").entry("phase").or_insert(json!("Active"));
        }
        Kind::NetworkPolicy => {
            let spec = object_field(object, "spec");
            spec.entry("podSelector").or_insert(json!({}));
            if !spec.contains_key("policyTypes") {
                let mut types = vec![json!("Ingress")];
                if spec.contains_key("egress") {
                    types.push(json!("Egress"));
                }
                spec.insert("policyTypes".into(), Value::Array(types));
            }
        }
        Kind::Event => {
            object.as_object_mut().map(|o| o.entry("type").or_insert(json!("Normal")));
        }
        _ => {}
    }
}

/// What the DefaultTolerationSeconds admission plugin adds to every pod: 300 s on a not-ready or
/// unreachable node before the pod is evicted.
fn default_tolerations(spec: &mut Map<String, Value>) {
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = tolerations.as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let present = list.iter().any(|t| {
            t.get("key").and_then(Value::as_str) == Some(key)
                && t.get("effect").and_then(Value::as_str).is_none_or(|e| e == "NoExecute")
        });
        if !present {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

fn template(spec: &mut Map<String, Value>) {
    let template = field(spec, "template");
    pod_spec(field(template, "spec"));
}

/// The defaults of a pod spec (also inside Deployment and ReplicaSet templates).
fn pod_spec(spec: &mut Map<String, Value>) {
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("terminationGracePeriodSeconds").or_insert(json!(30));
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName").or_insert(json!("default-scheduler"));
    spec.entry("securityContext").or_insert(json!({}));
    if !spec.contains_key("serviceAccountName") {
        let account = spec.get("serviceAccount").cloned().unwrap_or(json!("default"));
        spec.insert("serviceAccountName".into(), account);
    }
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                container_defaults(container);
            }
        }
    }
}

fn container_defaults(container: &mut Map<String, Value>) {
    let image = container.get("image").and_then(Value::as_str).unwrap_or_default();
    let tag_is_latest = match image.rsplit_once(':') {
        Some((_, tag)) => tag == "latest" || tag.contains('/'),
        None => !image.contains('@'),
    };
    let policy = if tag_is_latest { "Always" } else { "IfNotPresent" };
    container.entry("imagePullPolicy").or_insert(json!(policy));
    container.entry("terminationMessagePath").or_insert(json!("/dev/termination-log"));
    container.entry("terminationMessagePolicy").or_insert(json!("File"));
    container.entry("resources").or_insert(json!({}));
    if let Some(Value::Array(ports)) = container.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert(json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = container.get_mut(probe).and_then(Value::as_object_mut) {
            probe.entry("timeoutSeconds").or_insert(json!(1));
            probe.entry("periodSeconds").or_insert(json!(10));
            probe.entry("successThreshold").or_insert(json!(1));
            probe.entry("failureThreshold").or_insert(json!(3));
            if let Some(http) = probe.get_mut("httpGet").and_then(Value::as_object_mut) {
                http.entry("scheme").or_insert(json!("HTTP"));
            }
        }
    }
    if let Some(resources) = container.get_mut("resources").and_then(Value::as_object_mut) {
        // Limits without requests: requests default to the limits.
        if let Some(limits) = resources.get("limits").cloned().and_then(|v| v.as_object().cloned()) {
            let requests = field(resources, "requests");
            for (name, quantity) in limits {
                requests.entry(name).or_insert(quantity);
            }
        }
    }
}

/// `Guaranteed` when every container has equal CPU and memory requests and limits, `BestEffort` when
/// none has any, `Burstable` otherwise.
fn qos_class(spec: &Map<String, Value>) -> &'static str {
    let containers = spec.get("containers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for container in containers {
        let requests = container.pointer("/resources/requests").and_then(Value::as_object);
        let limits = container.pointer("/resources/limits").and_then(Value::as_object);
        any |= requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty());
        for resource in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(resource));
            let request = requests.and_then(|r| r.get(resource));
            if limit.is_none() || limit != request {
                guaranteed = false;
            }
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// The object map under `key` of `object`, created when missing or not an object.
pub(super) fn object_field<'a>(object: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(map) = object else { unreachable!("object was made an object above") };
    field(map, key)
}

fn field<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("entry was made an object above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_the_defaults_describe_shows() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "app", "image": "shop/cart:1.2", "resources": {"limits": {"memory": "128Mi", "cpu": "100m"}},
             "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}}
        ]}});
        apply(Kind::Pod, &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        let probe = &pod["spec"]["containers"][0]["readinessProbe"];
        assert_eq!((probe["periodSeconds"].as_i64(), probe["failureThreshold"].as_i64()), (Some(5), Some(3)));
        assert_eq!((probe["successThreshold"].as_i64(), probe["httpGet"]["scheme"].as_str()), (Some(1), Some("HTTP")));
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["spec"]["containers"][0]["resources"]["requests"]["memory"], "128Mi");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "Guaranteed");
        assert_eq!(pod["spec"]["tolerations"][1]["key"], "node.kubernetes.io/unreachable");
        assert_eq!(pod["spec"]["tolerations"][1]["tolerationSeconds"], 300);
        let again = pod.clone();
        apply(Kind::Pod, &mut pod);
        assert_eq!(pod, again, "defaulting is idempotent");
    }

    #[test]
    fn qos_classes() {
        let cases = [
            (json!({"containers": [{"name": "a"}]}), "BestEffort"),
            (json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}), "Burstable"),
            (
                json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                                 "limits": {"cpu": "1", "memory": "1Gi"}}}]}),
                "Guaranteed",
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(qos_class(spec.as_object().unwrap()), expected, "{spec}");
        }
    }

    #[test]
    fn latest_and_untagged_images_are_always_pulled() {
        for (image, policy) in [("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent")] {
            let mut container = json!({"name": "a", "image": image});
            container_defaults(container.as_object_mut().unwrap());
            assert_eq!(container["imagePullPolicy"], policy, "{image}");
        }
    }

    #[test]
    fn deployments_default_a_rolling_update() {
        let mut deployment = json!({"spec": {"template": {"spec": {"containers": []}}}});
        apply(Kind::Deployment, &mut deployment);
        assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(deployment["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }
}
