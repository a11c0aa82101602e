//! The Kubernetes objects a topology deploys (what its Helm chart would render): per service a
//! ConfigMap of its configuration, a ClusterIP Service, and a Deployment whose pods read their
//! dependencies' addresses and their configuration from the environment; and the nodes' kubelets.
use serde_json::{Value, json};

use super::quantity::{format_bytes, format_cpu_millis};
use super::technology::{Protocol, Technology};
use super::topology::{Service, Topology};
use crate::kubelet::NodeConfig;

impl Topology {
    /// The objects to create, in order: namespace, then per service (datastores first) its
    /// ConfigMap, Service and Deployment.
    pub fn manifests(&self) -> Vec<Value> {
        let mut objects = vec![json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": {"kubernetes.io/metadata.name": self.namespace}},
        })];
        for &s in &self.dependency_order {
            let service = &self.services[s];
            if !service.config.is_empty() {
                objects.push(self.config_map(service));
            }
            objects.push(self.service_object(service));
            objects.push(self.deployment(service));
        }
        objects
    }

    /// The kubelets the simulation runs, one per topology node.
    pub fn node_configs(&self) -> Vec<NodeConfig> {
        self.nodes
            .iter()
            .map(|n| {
                let mut config = NodeConfig::new(&n.name, n.cpu_millis, n.memory_bytes);
                config.max_pods = n.max_pods;
                config.labels = n.labels.clone();
                config.taints = n
                    .taints
                    .iter()
                    .map(|t| k8s_openapi::api::core::v1::Taint {
                        key: t.key.clone(),
                        value: t.value.clone(),
                        effect: t.effect.clone(),
                        time_added: None,
                    })
                    .collect();
                config
            })
            .collect()
    }

    fn metadata(&self, service: &Service, name: &str) -> Value {
        json!({
            "name": name,
            "namespace": self.namespace,
            "labels": {
                "app": service.name,
                "app.kubernetes.io/name": service.name,
                "app.kubernetes.io/part-of": self.name,
            },
        })
    }

    fn config_map(&self, service: &Service) -> Value {
        let data: serde_json::Map<String, Value> =
            service.config.iter().map(|(k, entry)| (k.clone(), json!(entry.value))).collect();
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(service, &format!("{}-config", service.name)),
            "data": data,
        })
    }

    fn service_object(&self, service: &Service) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(service, &service.name),
            "spec": {
                "type": "ClusterIP",
                "selector": {"app": service.name},
                "ports": [{
                    "name": port_name(service.protocol),
                    "port": service.port,
                    "targetPort": port_name(service.protocol),
                    "protocol": "TCP",
                }],
            },
        })
    }

    fn env(&self, service: &Service) -> Vec<Value> {
        let mut env: Vec<Value> = service.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
        for dep in &service.dependencies {
            let callee = &self.services[dep.service];
            let value = dep.protocol.address_value(service.technology, &callee.name, callee.port, &callee.database);
            env.push(json!({"name": dep.env, "value": value}));
        }
        for key in service.config.keys() {
            env.push(json!({
                "name": key,
                "valueFrom": {"configMapKeyRef": {"name": format!("{}-config", service.name), "key": key}},
            }));
        }
        env
    }

    fn deployment(&self, service: &Service) -> Value {
        let mut resources = json!({});
        for (section, list) in [("requests", service.requests), ("limits", service.limits)] {
            let mut entry = serde_json::Map::new();
            if let Some(cpu) = list.cpu_millis {
                entry.insert("cpu".into(), json!(format_cpu_millis(cpu)));
            }
            if let Some(memory) = list.memory_bytes {
                entry.insert("memory".into(), json!(format_bytes(memory)));
            }
            if !entry.is_empty() {
                resources[section] = Value::Object(entry);
            }
        }
        let startup = service.startup.as_secs();
        let mut container = json!({
            "name": service.container,
            "image": service.image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": port_name(service.protocol), "containerPort": service.port, "protocol": "TCP"}],
            "env": self.env(service),
            "resources": resources,
            "readinessProbe": probe(service, false),
            "livenessProbe": probe(service, true),
        });
        if container["env"].as_array().is_some_and(Vec::is_empty) {
            container.as_object_mut().expect("object").remove("env");
        }
        let strategy = if service.technology.is_datastore() {
            json!({"type": "Recreate"})
        } else {
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        };
        let mut template_labels = serde_json::Map::new();
        for (k, v) in &service.labels {
            template_labels.insert(k.clone(), json!(v));
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(service, &service.name),
            "spec": {
                "replicas": service.replicas,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": service.name}},
                "strategy": strategy,
                "template": {
                    "metadata": {"labels": template_labels},
                    "spec": {
                        "containers": [container],
                        "terminationGracePeriodSeconds": if startup > 10 { 30 } else { 10 },
                    },
                },
            },
        })
    }
}

fn port_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Http => "http",
        Protocol::Grpc => "grpc",
        Protocol::Postgres => "postgres",
        Protocol::Mysql => "mysql",
        Protocol::Redis => "redis",
        Protocol::Mongodb => "mongodb",
        Protocol::Memcached => "memcached",
    }
}

/// Probes as each kind of software is usually probed: HTTP health endpoints, gRPC and memcached on
/// their port, the datastores' own ping commands.
fn probe(service: &Service, liveness: bool) -> Value {
    let handler = match (service.technology, service.protocol) {
        (Technology::Postgres, _) => {
            json!({"exec": {"command": ["pg_isready", "-U", service.database, "-d", service.database, "-h", "127.0.0.1"]}})
        }
        (Technology::Mysql, _) => json!({"exec": {"command": ["mysqladmin", "ping", "-h", "127.0.0.1"]}}),
        (Technology::Redis, _) => json!({"exec": {"command": ["redis-cli", "ping"]}}),
        (Technology::Mongodb, _) => {
            json!({"exec": {"command": ["mongosh", "--quiet", "--eval", "db.adminCommand('ping')"]}})
        }
        (Technology::Memcached, _) | (_, Protocol::Grpc) => json!({"tcpSocket": {"port": service.port}}),
        (Technology::Java, _) => {
            let path = if liveness { "/actuator/health/liveness" } else { "/actuator/health/readiness" };
            json!({"httpGet": {"path": path, "port": service.port}})
        }
        (Technology::Go, _) | (Technology::Python, _) => json!({"httpGet": {"path": "/healthz", "port": service.port}}),
        (Technology::Node, _) => json!({"httpGet": {"path": "/health", "port": service.port}}),
    };
    let mut probe = handler;
    let startup = service.startup.as_secs();
    if liveness {
        probe["initialDelaySeconds"] = json!(startup + 10);
        probe["periodSeconds"] = json!(10);
        probe["failureThreshold"] = json!(3);
    } else {
        probe["initialDelaySeconds"] = json!(startup.min(5));
        probe["periodSeconds"] = json!(5);
    }
    probe["timeoutSeconds"] = json!(1);
    probe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_renders_deployments_services_and_config() {
        let shop = Topology::shop();
        let objects = shop.manifests();
        let find = |kind: &str, name: &str| {
            objects
                .iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind} {name}"))
        };
        assert_eq!(objects[0]["kind"], "Namespace");
        let cart = find("Deployment", "cart");
        let container = &cart["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "ghcr.io/medic-lab/shop-cart:3.2.0");
        assert_eq!(container["resources"]["limits"]["memory"], "256Mi");
        assert_eq!(container["resources"]["requests"]["cpu"], "100m");
        let env = container["env"].as_array().unwrap();
        assert!(env.contains(&json!({"name": "REDIS_ADDR", "value": "cart-redis:6379"})));
        assert!(env.iter().any(|e| e["name"] == "CART_TTL_SECONDS"
            && e["valueFrom"]["configMapKeyRef"] == json!({"name": "cart-config", "key": "CART_TTL_SECONDS"})));
        let orders = find("Deployment", "orders");
        let env = orders["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
        assert!(
            env.contains(&json!({"name": "SPRING_DATASOURCE_URL", "value": "jdbc:postgresql://orders-db:5432/orders"}))
        );
        let db = find("Deployment", "orders-db");
        assert_eq!(db["spec"]["strategy"]["type"], "Recreate");
        assert_eq!(
            db["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"][0],
            "pg_isready"
        );
        assert_eq!(find("Service", "cart-redis")["spec"]["ports"][0]["port"], 6379);
        assert_eq!(find("ConfigMap", "frontend-config")["data"]["LOG_LEVEL"], "info");
        // Datastores come before the services that need them.
        let position =
            |name: &str| objects.iter().position(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name);
        assert!(position("orders-db") < position("orders"));
        assert_eq!(shop.node_configs().len(), 3);
    }
}
