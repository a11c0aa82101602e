//! NetworkPolicy semantics (networking.k8s.io/v1) as a CNI that enforces them applies them.
//!
//! A pod is isolated for ingress (egress) when a policy in its namespace selects it and lists
//! `Ingress` (`Egress`) in `policyTypes` (which defaults to `Ingress`, plus `Egress` when the policy
//! has egress rules). An isolated pod accepts (sends) only what some selecting policy's rule allows:
//! a peer (podSelector and/or namespaceSelector, or ipBlock) and a port. Traffic between two pods
//! needs both the sender's egress and the receiver's ingress to allow it.
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub type Labels = BTreeMap<String, String>;

/// One endpoint of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Default)]
pub struct NetworkPolicies {
    policies: Vec<Policy>,
    /// Namespace labels (for namespaceSelector), with `kubernetes.io/metadata.name` set.
    namespaces: BTreeMap<String, Labels>,
}

#[derive(Debug, Clone)]
struct Policy {
    namespace: String,
    pod_selector: Selector,
    ingress: Option<Vec<Rule>>,
    egress: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, Default)]
struct Rule {
    /// Empty: every peer.
    peers: Vec<PeerSelector>,
    /// Empty: every port. `None` in an entry: every port of that protocol.
    ports: Vec<Option<u16>>,
}

#[derive(Debug, Clone)]
enum PeerSelector {
    Pods { pods: Option<Selector>, namespaces: Option<Selector> },
    IpBlock { cidr: (Ipv4Addr, u8), except: Vec<(Ipv4Addr, u8)> },
}

/// A label selector (`matchLabels` + `matchExpressions`).
#[derive(Debug, Clone, Default)]
pub struct Selector {
    labels: Labels,
    expressions: Vec<(String, String, Vec<String>)>,
}

impl Selector {
    pub fn from_value(value: &Value) -> Selector {
        let labels = value
            .get("matchLabels")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let expressions = value
            .get("matchExpressions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| {
                        let values = e
                            .get("values")
                            .and_then(Value::as_array)
                            .map(|v| v.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                            .unwrap_or_default();
                        Some((e.get("key")?.as_str()?.to_string(), e.get("operator")?.as_str()?.to_string(), values))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Selector { labels, expressions }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|(key, operator, values)| {
                let value = labels.get(key);
                match operator.as_str() {
                    "In" => value.is_some_and(|v| values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, bits) = text.split_once('/')?;
    let bits: u8 = bits.parse().ok().filter(|b| *b <= 32)?;
    Some((ip.parse().ok()?, bits))
}

fn in_cidr(ip: Ipv4Addr, (network, bits): (Ipv4Addr, u8)) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    u32::from(ip) & mask == u32::from(network) & mask
}

fn rules(value: Option<&Value>, peers_key: &str) -> Vec<Rule> {
    value
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|rule| Rule {
                    peers: rule
                        .get(peers_key)
                        .and_then(Value::as_array)
                        .map(|peers| peers.iter().filter_map(peer_selector).collect())
                        .unwrap_or_default(),
                    ports: rule
                        .get("ports")
                        .and_then(Value::as_array)
                        .map(|ports| {
                            ports.iter().map(|p| p.get("port").and_then(Value::as_u64).map(|p| p as u16)).collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn peer_selector(peer: &Value) -> Option<PeerSelector> {
    if let Some(block) = peer.get("ipBlock") {
        let cidr = parse_cidr(block.get("cidr")?.as_str()?)?;
        let except = block
            .get("except")
            .and_then(Value::as_array)
            .map(|e| e.iter().filter_map(|c| parse_cidr(c.as_str()?)).collect())
            .unwrap_or_default();
        return Some(PeerSelector::IpBlock { cidr, except });
    }
    Some(PeerSelector::Pods {
        pods: peer.get("podSelector").map(Selector::from_value),
        namespaces: peer.get("namespaceSelector").map(Selector::from_value),
    })
}

impl NetworkPolicies {
    /// Policies from `NetworkPolicy` objects; `namespaces` are the Namespace objects (for their labels).
    pub fn new<'a>(
        policies: impl IntoIterator<Item = &'a Value>,
        namespaces: impl IntoIterator<Item = &'a Value>,
    ) -> Self {
        let namespaces = namespaces
            .into_iter()
            .filter_map(|ns| {
                let name = ns.pointer("/metadata/name")?.as_str()?.to_string();
                let mut labels: Labels = ns
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                    .unwrap_or_default();
                labels.insert("kubernetes.io/metadata.name".into(), name.clone());
                Some((name, labels))
            })
            .collect();
        let policies = policies
            .into_iter()
            .filter_map(|p| {
                let namespace = p.pointer("/metadata/namespace")?.as_str()?.to_string();
                let spec = p.get("spec")?;
                let types: Vec<&str> = spec
                    .get("policyTypes")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let has_egress_rules = spec.get("egress").is_some_and(|e| !e.is_null());
                let (ingress, egress) = if types.is_empty() {
                    (true, has_egress_rules)
                } else {
                    (types.contains(&"Ingress"), types.contains(&"Egress"))
                };
                Some(Policy {
                    namespace,
                    pod_selector: spec.get("podSelector").map(Selector::from_value).unwrap_or_default(),
                    ingress: ingress.then(|| rules(spec.get("ingress"), "from")),
                    egress: egress.then(|| rules(spec.get("egress"), "to")),
                })
            })
            .collect();
        NetworkPolicies { policies, namespaces }
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    fn peer_matches(&self, selector: &PeerSelector, policy_namespace: &str, peer: &Peer<'_>) -> bool {
        match selector {
            PeerSelector::IpBlock { cidr, except } => {
                peer.ip.is_some_and(|ip| in_cidr(ip, *cidr) && !except.iter().any(|e| in_cidr(ip, *e)))
            }
            PeerSelector::Pods { pods, namespaces } => {
                let namespace_ok = match namespaces {
                    Some(selector) => {
                        let empty = Labels::new();
                        selector.matches(self.namespaces.get(peer.namespace).unwrap_or(&empty))
                    }
                    None => peer.namespace == policy_namespace,
                };
                // An address outside the cluster is no pod: only ipBlock peers can match it.
                let is_pod = !peer.labels.is_empty() || peer.ip.is_none();
                is_pod && namespace_ok && pods.as_ref().is_none_or(|s| s.matches(peer.labels))
            }
        }
    }

    fn allowed(&self, subject: &Peer<'_>, other: &Peer<'_>, port: Option<u16>, ingress: bool) -> bool {
        let mut isolated = false;
        for policy in self.policies.iter().filter(|p| p.namespace == subject.namespace) {
            if !policy.pod_selector.matches(subject.labels) {
                continue;
            }
            let Some(rules) = (if ingress { &policy.ingress } else { &policy.egress }) else { continue };
            isolated = true;
            let allows = rules.iter().any(|rule| {
                let port_ok = rule.ports.is_empty() || rule.ports.iter().any(|p| p.is_none() || *p == port);
                let peer_ok =
                    rule.peers.is_empty() || rule.peers.iter().any(|s| self.peer_matches(s, &policy.namespace, other));
                port_ok && peer_ok
            });
            if allows {
                return true;
            }
        }
        !isolated
    }

    /// Whether `from` may open a connection to `to` on `port`.
    pub fn allows(&self, from: &Peer<'_>, to: &Peer<'_>, port: Option<u16>) -> bool {
        self.policies.is_empty() || (self.allowed(from, to, port, false) && self.allowed(to, from, port, true))
    }

    /// Whether `from` may send to an address outside the cluster.
    pub fn allows_external(&self, from: &Peer<'_>, ip: Ipv4Addr, port: Option<u16>) -> bool {
        let empty = Labels::new();
        let outside = Peer { namespace: "", labels: &empty, ip: Some(ip) };
        self.policies.is_empty() || self.allowed(from, &outside, port, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn namespaces() -> Vec<Value> {
        vec![json!({"metadata": {"name": "shop"}}), json!({"metadata": {"name": "ops", "labels": {"team": "ops"}}})]
    }

    #[test]
    fn table_of_policies() {
        let cart = labels(&[("app", "cart")]);
        let redis = labels(&[("app", "cart-redis")]);
        let frontend = labels(&[("app", "frontend")]);
        let ip = |s: &str| Some(s.parse().unwrap());
        let cart_peer = Peer { namespace: "shop", labels: &cart, ip: ip("10.244.1.5") };
        let redis_peer = Peer { namespace: "shop", labels: &redis, ip: ip("10.244.2.7") };
        let frontend_peer = Peer { namespace: "shop", labels: &frontend, ip: ip("10.244.1.9") };
        let ops = labels(&[("app", "probe")]);
        let ops_peer = Peer { namespace: "ops", labels: &ops, ip: ip("10.244.3.3") };
        let external: Ipv4Addr = "203.0.113.50".parse().unwrap();

        struct Case {
            name: &'static str,
            policy: Value,
            cart_to_redis: bool,
            frontend_to_cart: bool,
            ops_to_cart: bool,
            cart_to_external: bool,
        }
        let cases = [
            Case {
                name: "no policy",
                policy: json!(null),
                cart_to_redis: true,
                frontend_to_cart: true,
                ops_to_cart: true,
                cart_to_external: true,
            },
            Case {
                name: "deny-all egress on the cart",
                policy: json!({"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Egress"]}),
                cart_to_redis: false,
                frontend_to_cart: true,
                ops_to_cart: true,
                cart_to_external: false,
            },
            Case {
                name: "deny-all ingress and egress on the cart",
                policy: json!({"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Ingress", "Egress"]}),
                cart_to_redis: false,
                frontend_to_cart: false,
                ops_to_cart: false,
                cart_to_external: false,
            },
            Case {
                name: "egress only inside the cluster",
                policy: json!({"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"podSelector": {}}]}]}),
                cart_to_redis: true,
                frontend_to_cart: true,
                ops_to_cart: true,
                cart_to_external: false,
            },
            Case {
                name: "ingress from the frontend only, on the port",
                policy: json!({"podSelector": {"matchLabels": {"app": "cart"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"port": 7070}]}]}),
                cart_to_redis: true,
                frontend_to_cart: true,
                ops_to_cart: false,
                cart_to_external: true,
            },
            Case {
                name: "ingress from the ops namespace",
                policy: json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}]}),
                cart_to_redis: false,
                frontend_to_cart: false,
                ops_to_cart: true,
                cart_to_external: true,
            },
            Case {
                name: "egress to an ipBlock except the bad address",
                policy: json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["cart"]}]},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"podSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"]}}]}]}),
                cart_to_redis: true,
                frontend_to_cart: true,
                ops_to_cart: true,
                cart_to_external: false,
            },
        ];
        for case in cases {
            let objects: Vec<Value> = if case.policy.is_null() {
                vec![]
            } else {
                vec![json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": case.policy})]
            };
            let namespaces = namespaces();
            let policies = NetworkPolicies::new(&objects, &namespaces);
            assert_eq!(
                policies.allows(&cart_peer, &redis_peer, Some(6379)),
                case.cart_to_redis,
                "{}: cart→redis",
                case.name
            );
            assert_eq!(
                policies.allows(&frontend_peer, &cart_peer, Some(7070)),
                case.frontend_to_cart,
                "{}: frontend→cart",
                case.name
            );
            assert_eq!(policies.allows(&ops_peer, &cart_peer, Some(7070)), case.ops_to_cart, "{}: ops→cart", case.name);
            assert_eq!(
                policies.allows_external(&cart_peer, external, Some(4444)),
                case.cart_to_external,
                "{}: cart→external",
                case.name
            );
        }
    }
}
