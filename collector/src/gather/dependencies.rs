//! The dependency graph between workloads: which services a workload calls, read from its configuration
//! (env values such as `REDIS_ADDR=cart-redis:6379` or `DATABASE_URL=postgres://orders-db:5432/x`) and its
//! logs (`dial tcp 10.96.3.4:6379: connect: connection refused`), matched against service names, their
//! cluster-DNS names and their ClusterIPs, and against pod IPs.
use medic_core::context::{DependencyEdge, DependencyVia, PodSnapshot, ServiceSnapshot, WorkloadSnapshot};
use medic_core::{ObjectKind, ObjectRef};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// The longest detail kept on an edge.
const MAX_DETAIL: usize = 240;

/// Where a host a workload names leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Callee {
    Service {
        namespace: String,
        name: String,
    },
    /// A pod IP: the workload that owns the pod.
    Workload(ObjectRef),
}

/// The services and pod addresses of the namespaces collected so far.
#[derive(Debug, Default)]
pub struct AddressBook {
    services: HashMap<(String, String), ServiceSnapshot>,
    service_ips: HashMap<String, (String, String)>,
    pod_ips: HashMap<String, ObjectRef>,
    namespaces: HashSet<String>,
}

impl AddressBook {
    /// Adds a namespace's services (by name and ClusterIP) and its pods (by IP).
    pub fn add_namespace(&mut self, namespace: &str, services: &[ServiceSnapshot], pods: &[PodSnapshot]) {
        self.namespaces.insert(namespace.to_string());
        for s in services {
            self.services.insert((s.namespace.clone(), s.name.clone()), s.clone());
            if let Some(ip) = &s.cluster_ip {
                self.service_ips.insert(ip.clone(), (s.namespace.clone(), s.name.clone()));
            }
        }
        for p in pods {
            if let (Some(ip), Some(owner)) = (&p.pod_ip, &p.owner) {
                self.pod_ips.insert(ip.clone(), owner.clone());
            }
        }
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceSnapshot> {
        self.services.get(&(namespace.to_string(), name.to_string()))
    }

    /// What `host`, named by a workload of `namespace`, refers to. A cluster-DNS name of a namespace not
    /// collected yet is returned as a service of that namespace (the caller collects it and asks again).
    /// Whether `host` is the address of a pod medic read (not of a Service).
    pub fn is_pod_ip(&self, host: &str) -> bool {
        self.pod_ips.contains_key(host)
    }

    pub fn lookup(&self, host: &str, namespace: &str) -> Option<Callee> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.parse::<std::net::Ipv4Addr>().is_ok() {
            if let Some((ns, name)) = self.service_ips.get(&host) {
                return Some(Callee::Service { namespace: ns.clone(), name: name.clone() });
            }
            return self.pod_ips.get(&host).map(|owner| Callee::Workload(owner.clone()));
        }
        let labels: Vec<&str> = host.split('.').collect();
        let service = |ns: &str, name: &str| Callee::Service { namespace: ns.to_string(), name: name.to_string() };
        match labels.as_slice() {
            [name] => self.service(namespace, name).map(|_| service(namespace, name)),
            // `name.namespace`: only for a namespace medic knows, or `example.com` would look like one.
            [name, ns] => self.service(ns, name).map(|_| service(ns, name)),
            // `name.namespace.svc[.cluster.local]`: the cluster's DNS, whatever the cluster domain.
            [name, ns, "svc", ..] if is_dns_label(name) && is_dns_label(ns) => {
                if self.has_namespace(ns) && self.service(ns, name).is_none() {
                    return None;
                }
                Some(service(ns, name))
            }
            _ => None,
        }
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

/// A host named in a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueHost<'a> {
    pub host: &'a str,
    /// Written as an address (with a scheme, credentials, a port, or a dotted name), not a bare word that
    /// may as well be a database or user name.
    pub explicit: bool,
}

/// Host names in one configuration value: `cart-redis:6379`, `postgres://u:p@orders-db:5432/x`,
/// `jdbc:postgresql://orders-db:5432/orders`, `a:1,b:2`, or a bare `orders-db`.
pub fn hosts_in_value(value: &str) -> Vec<ValueHost<'_>> {
    value
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter_map(|item| {
            let (schemed, rest) = item.split_once("://").map_or((false, item), |(_, rest)| (true, rest));
            let (credentials, rest) = rest.rsplit_once('@').map_or((false, rest), |(_, host)| (true, host));
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (host, true),
                Some(_) => return None,
                None => (authority, false),
            };
            let explicit = schemed || credentials || port || host.contains('.');
            (!host.is_empty()).then_some(ValueHost { host, explicit })
        })
        .collect()
}

/// Variable names that hold an address, so that a bare word in them is a host (`DB_HOST=orders-db`)
/// while the same word elsewhere is not (`POSTGRES_DB=orders`).
const ADDRESS_NAME_PARTS: &[&str] =
    &["HOST", "ADDR", "URL", "URI", "ENDPOINT", "SERVER", "BROKER", "DSN", "UPSTREAM", "BACKEND"];

fn names_an_address(variable: &str) -> bool {
    let upper = variable.to_ascii_uppercase();
    ADDRESS_NAME_PARTS.iter().any(|part| upper.contains(part))
}

static LOG_HOSTS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // name:port (a DNS name starts with a letter; `12:00` is a time, and ip:port is matched below)
        r"(?i)\b([a-z](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*):\d{2,5}\b",
        // scheme://[user@]host
        r"(?i)[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?([a-z0-9][a-z0-9.-]*)",
        // bare IPv4
        r"\b(\d{1,3}(?:\.\d{1,3}){3})\b",
        // connection strings: `failed to connect to `host=orders-db user=app database=orders``
        r"(?i)\bhost=([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)",
        // DNS failures: `lookup cart-redis on 10.96.0.10:53: no such host`
        r"(?i)\blookup ([a-z0-9][a-z0-9.-]*)",
        // quoted hosts after the words that introduce them: `connection to server at "orders-db" (...)`,
        // `could not translate host name "orders-db" to address` (not `database "orders" does not exist`)
        r#"(?i)\b(?:server at|host|host ?name)\s+["']([a-z][a-z0-9.-]*)["']"#,
    ]
    .iter()
    .map(|p| Regex::new(p).expect("valid host pattern"))
    .collect()
});

/// Host-like tokens in a log line. Words alone do not count: a host shows as `host:port`, in a URL, as an
/// IP, after `lookup`, or quoted.
pub fn hosts_in_log_line(line: &str) -> Vec<&str> {
    let mut hosts: Vec<&str> = Vec::new();
    for pattern in LOG_HOSTS.iter() {
        for captures in pattern.captures_iter(line) {
            if let Some(m) = captures.get(1)
                && !hosts.contains(&m.as_str())
            {
                hosts.push(m.as_str());
            }
        }
    }
    hosts
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_DETAIL {
        return s.to_string();
    }
    let mut end = MAX_DETAIL;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A dependency found but not yet resolved to a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub from: ObjectRef,
    pub callee: Callee,
    pub via: DependencyVia,
    pub detail: String,
}

/// The services a workload's containers name in their env values.
pub fn from_config(workload: &WorkloadSnapshot, book: &AddressBook) -> Vec<Reference> {
    let namespace = workload.workload.namespace().unwrap_or_default();
    let mut found = Vec::new();
    for container in &workload.containers {
        for (name, value) in &container.env {
            for ValueHost { host, explicit } in hosts_in_value(value) {
                if !explicit && !names_an_address(name) {
                    continue;
                }
                if let Some(callee) = book.lookup(host, namespace) {
                    found.push(Reference {
                        from: workload.workload.clone(),
                        callee,
                        via: DependencyVia::Config,
                        detail: clip(&format!("{} env {name}={value}", container.name)),
                    });
                }
            }
        }
    }
    found
}

/// The services (and pods) a workload's log lines name.
pub fn from_logs<'a>(from: &ObjectRef, lines: impl IntoIterator<Item = &'a str>, book: &AddressBook) -> Vec<Reference> {
    let namespace = from.namespace().unwrap_or_default();
    // With each reference: whether its detail line reports a failure (the first such line is kept).
    let mut found: Vec<(Reference, bool)> = Vec::new();
    for line in lines {
        for host in hosts_in_log_line(line) {
            let Some(callee) = book.lookup(host, namespace) else { continue };
            if book.is_pod_ip(host) && is_client_address(line, host) {
                continue;
            }
            match found.iter_mut().find(|(r, _)| r.callee == callee) {
                Some((seen, failing)) => {
                    if !*failing && reports_failure(line) {
                        seen.detail = clip(line.trim());
                        *failing = true;
                    }
                }
                None => {
                    let reference =
                        Reference { from: from.clone(), callee, via: DependencyVia::Log, detail: clip(line.trim()) };
                    found.push((reference, reports_failure(line)));
                }
            }
        }
    }
    found.into_iter().map(|(r, _)| r).collect()
}

/// Whether a pod address in a log line is the far end of an inbound connection (an access log's client, a
/// database's `connection received: host=…`) rather than a callee: a callee's address comes with the port
/// it serves; a client's comes bare or with an ephemeral port (Linux allocates them from 32768).
fn is_client_address(line: &str, host: &str) -> bool {
    let offset = host.as_ptr() as usize - line.as_ptr() as usize;
    let after = &line[offset + host.len()..];
    let port: String = after.strip_prefix(':').unwrap_or("").chars().take_while(char::is_ascii_digit).collect();
    port.parse::<u32>().map_or(true, |port| port >= 32768)
}

/// Whether a log line reports a failure (of a call, a connection, the process): a dependency named in such
/// a line is one the workload has trouble with.
pub fn reports_failure(line: &str) -> bool {
    static FAILURE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(error|err|fatal|fail(ed|ure|ing)?|refused|timed? ?out|timeout|unavailable|unreachable|too many|exhausted|reset by peer|no such host|exception|panic)\b",
        )
        .expect("valid failure pattern")
    });
    FAILURE.is_match(line)
}

/// Turns references into edges: a service resolves to its backend workload (or stays a Service when it
/// selects none, an external endpoint). Self-references and repeats (same from, to and via) are dropped.
pub fn edges(references: &[Reference], book: &AddressBook) -> Vec<DependencyEdge> {
    let mut edges: Vec<DependencyEdge> = Vec::new();
    for r in references {
        let (to, service) = match &r.callee {
            Callee::Service { namespace, name } => {
                let backend = book.service(namespace, name).and_then(|s| s.backend.clone());
                (
                    backend.unwrap_or_else(|| ObjectRef::new(ObjectKind::Service, namespace.as_str(), name.as_str())),
                    name.clone(),
                )
            }
            Callee::Workload(owner) => (owner.clone(), String::new()),
        };
        if to == r.from || edges.iter().any(|e| e.from == r.from && e.to == to && e.via == r.via) {
            continue;
        }
        edges.push(DependencyEdge { from: r.from.clone(), to, service, via: r.via.clone(), detail: r.detail.clone() });
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{deployment, pod, service};

    fn book() -> AddressBook {
        let mut book = AddressBook::default();
        let mut redis = service("shop", "cart-redis", Some(ObjectRef::deployment("shop", "cart-redis")), 1);
        redis.cluster_ip = Some("10.96.3.4".into());
        let shop = [
            redis,
            service("shop", "cart", Some(ObjectRef::deployment("shop", "cart")), 1),
            service("shop", "payments", None, 0),
        ];
        let mut web = pod("shop", "web-5d4f8c7b9-abcde", "web", "node-1");
        web.pod_ip = Some("10.244.1.9".into());
        book.add_namespace("shop", &shop, &[web]);
        let data =
            [service("data", "orders-db", Some(ObjectRef::new(ObjectKind::StatefulSet, "data", "orders-db")), 1)];
        book.add_namespace("data", &data, &[]);
        book
    }

    #[test]
    fn hosts_are_found_in_configuration_values() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("cart-redis:6379", &[("cart-redis", true)]),
            (
                "postgres://app:s3cret@orders-db.data.svc.cluster.local:5432/orders?sslmode=disable",
                &[("orders-db.data.svc.cluster.local", true)],
            ),
            ("jdbc:postgresql://orders-db:5432/orders", &[("orders-db", true)]),
            ("redis://cart-redis", &[("cart-redis", true)]),
            ("http://cart/api/v1", &[("cart", true)]),
            ("a:1, b:2;c", &[("a", true), ("b", true), ("c", false)]),
            ("orders-db", &[("orders-db", false)]),
            ("info", &[("info", false)]),
            ("key=value:with:colons", &[]),
            ("", &[]),
        ];
        for (value, want) in cases {
            let got: Vec<(&str, bool)> = hosts_in_value(value).iter().map(|h| (h.host, h.explicit)).collect();
            assert_eq!(got, *want, "{value}");
        }
    }

    #[test]
    fn a_bare_word_is_a_host_only_in_a_variable_that_holds_an_address() {
        let book = book();
        let workload = deployment(
            "shop",
            "orders-db",
            &[("POSTGRES_DB", "cart"), ("PAYMENTS_HOST", "payments"), ("OTEL_SERVICE_NAME", "cart")],
        );
        let callees: Vec<String> = from_config(&workload, &book)
            .into_iter()
            .map(|r| match r.callee {
                Callee::Service { name, .. } => name,
                Callee::Workload(w) => w.name,
            })
            .collect();
        assert_eq!(callees, ["payments"]);
    }

    #[test]
    fn hosts_are_found_in_log_lines_of_real_software() {
        let cases: &[(&str, &[&str])] = &[
            ("dial tcp 10.96.3.4:6379: connect: connection refused", &["10.96.3.4"]),
            ("Error: connect ECONNREFUSED cart-redis:6379", &["cart-redis"]),
            ("dial tcp: lookup cart-redis on 10.96.0.10:53: no such host", &["10.96.0.10", "cart-redis"]),
            (
                r#"psql: error: connection to server at "orders-db" (10.96.4.5), port 5432 failed: Connection refused"#,
                &["10.96.4.5", "orders-db"],
            ),
            ("GET http://cart/api/items 503", &["cart"]),
            ("2026-03-01 12:00:01 INFO cart started in 1.2s", &[]),
            (r#"FATAL:  database "cart" does not exist"#, &[]),
            (r#"could not translate host name "orders-db" to address"#, &["orders-db"]),
            (
                "failed to connect to `host=orders-db user=orders database=orders`: server error (FATAL: sorry, too many clients already (SQLSTATE 53300))",
                &["orders-db"],
            ),
        ];
        for (line, want) in cases {
            let mut got = hosts_in_log_line(line);
            got.sort();
            let mut want = want.to_vec();
            want.sort();
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn lookups_match_names_dns_names_and_addresses() {
        let book = book();
        let svc = |ns: &str, name: &str| Some(Callee::Service { namespace: ns.into(), name: name.into() });
        let cases = [
            ("cart-redis", "shop", svc("shop", "cart-redis")),
            ("CART-REDIS", "shop", svc("shop", "cart-redis")),
            ("cart-redis", "data", None),
            ("orders-db.data", "shop", svc("data", "orders-db")),
            ("orders-db.data.svc.cluster.local", "shop", svc("data", "orders-db")),
            ("orders-db.data.svc.corp.example.", "shop", svc("data", "orders-db")),
            ("search.catalog.svc.cluster.local", "shop", svc("catalog", "search")),
            ("missing.data.svc.cluster.local", "shop", None),
            ("10.96.3.4", "shop", svc("shop", "cart-redis")),
            ("10.244.1.9", "shop", Some(Callee::Workload(ObjectRef::deployment("shop", "web")))),
            ("10.0.0.1", "shop", None),
            ("example.com", "shop", None),
            ("api.example.com", "shop", None),
            ("info", "shop", None),
        ];
        for (host, ns, want) in cases {
            assert_eq!(book.lookup(host, ns), want, "{host} from {ns}");
        }
    }

    #[test]
    fn edges_come_from_env_and_logs_and_resolve_to_backends() {
        let book = book();
        let cart = deployment(
            "shop",
            "cart",
            &[
                ("REDIS_ADDR", "cart-redis:6379"),
                ("DATABASE_URL", "postgres://orders-db.data.svc.cluster.local:5432/orders"),
                ("PAYMENTS_URL", "http://payments"),
                ("SELF", "http://cart"),
                ("LOG_LEVEL", "info"),
            ],
        );
        let mut references = from_config(&cart, &book);
        references.extend(from_logs(
            &cart.workload,
            ["started", "dial tcp 10.96.3.4:6379: connect: connection refused", "dial tcp 10.96.3.4:6379: i/o timeout"],
            &book,
        ));
        let edges = edges(&references, &book);
        let summary: Vec<(String, &str, DependencyVia)> =
            edges.iter().map(|e| (e.to.to_string(), e.service.as_str(), e.via.clone())).collect();
        assert_eq!(
            summary,
            vec![
                ("StatefulSet/data/orders-db".to_string(), "orders-db", DependencyVia::Config),
                ("Service/shop/payments".to_string(), "payments", DependencyVia::Config),
                ("Deployment/shop/cart-redis".to_string(), "cart-redis", DependencyVia::Config),
                ("Deployment/shop/cart-redis".to_string(), "cart-redis", DependencyVia::Log),
            ]
        );
        assert_eq!(edges[2].detail, "app env REDIS_ADDR=cart-redis:6379");
        assert_eq!(edges[3].detail, "dial tcp 10.96.3.4:6379: connect: connection refused");
    }

    #[test]
    fn a_pod_address_is_a_callee_only_with_a_port_it_serves() {
        let book = book();
        let db = ObjectRef::deployment("shop", "orders-db");
        let callees =
            |line: &str| -> Vec<Callee> { from_logs(&db, [line], &book).into_iter().map(|r| r.callee).collect() };
        let web = Callee::Workload(ObjectRef::deployment("shop", "web"));
        // Inbound: PostgreSQL's log_connections, MongoDB's network log, an access log.
        assert_eq!(callees("[412] LOG:  connection received: host=10.244.1.9 port=51234"), []);
        assert_eq!(callees(r#""msg":"Connection accepted","attr":{"remote":"10.244.1.9:51234"}"#), []);
        assert_eq!(callees(r#"10.244.1.9 - - [01/Mar/2026:12:00:01 +0000] "GET / HTTP/1.1" 200 512"#), []);
        // Outbound to a pod (a headless service's member): the port it serves.
        assert_eq!(callees("dial tcp 10.244.1.9:27017: connect: connection refused"), [web]);
    }

    #[test]
    fn failures_are_told_from_chatter() {
        for line in [
            "dial tcp 10.96.3.4:6379: connect: connection refused",
            r#"{"level":"error","msg":"query failed","error":"failed to connect to `host=orders-db`"}"#,
            "FATAL:  sorry, too many clients already",
            "io.netty.channel.ConnectTimeoutException: connection timed out: cart/10.96.0.3:7070",
            "upstream request timeout",
        ] {
            assert!(reports_failure(line), "{line}");
        }
        for line in ["GET http://cart/api/items 200 in 12 ms", "connected to orders-db:5432", "checkpoint complete"] {
            assert!(!reports_failure(line), "{line}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever the text, extraction does not panic and only returns pieces of the text.
            #[test]
            fn hosts_are_pieces_of_the_text(text in "\\PC{0,200}") {
                let in_values = hosts_in_value(&text).into_iter().map(|h| h.host);
                for host in in_values.chain(hosts_in_log_line(&text)) {
                    prop_assert!(text.contains(host));
                }
            }

            /// A service named in any of the ways real clients log a peer is found, by name or by address.
            #[test]
            fn a_service_named_in_a_log_line_is_found(
                name in "[a-z][a-z0-9-]{0,20}[a-z0-9]",
                port in 1024u16..65535,
                ip in (1u8..255, 0u8..255, 0u8..255, 1u8..255),
                template in 0usize..6,
            ) {
                let ip = format!("{}.{}.{}.{}", ip.0, ip.1, ip.2, ip.3);
                let mut svc = service("shop", &name, Some(ObjectRef::deployment("shop", &name)), 0);
                svc.cluster_ip = Some(ip.clone());
                let mut book = AddressBook::default();
                book.add_namespace("shop", &[svc], &[]);
                let line = match template {
                    0 => format!("dial tcp {ip}:{port}: connect: connection refused"),
                    1 => format!("Error: connect ECONNREFUSED {name}:{port}"),
                    2 => format!("dial tcp: lookup {name} on 10.96.0.10:53: no such host"),
                    3 => format!("connection to server at \"{name}\" ({ip}), port {port} failed"),
                    4 => format!("GET http://{name}.shop.svc.cluster.local:{port}/health 503"),
                    _ => format!("io.netty.channel.ConnectTimeoutException: connection timed out: {name}/{ip}:{port}"),
                };
                let caller = ObjectRef::deployment("shop", "caller");
                let found = from_logs(&caller, [line.as_str()], &book);
                prop_assert_eq!(found.len(), 1, "{}", line);
                prop_assert_eq!(&found[0].callee, &Callee::Service { namespace: "shop".into(), name: name.clone() });
            }
        }
    }
}
