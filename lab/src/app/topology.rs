//! The topology file: the services the lab runs, how they behave and how they depend on each other.
//!
//! `lab/topologies/README.md` documents every field. Loading is parse → validate → resolve: the result
//! refers to dependencies by index, carries parsed quantities, and knows a topological order of the
//! dependency graph (cycles are refused). Errors name the file, the field and, where it can be found,
//! the line.
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::time::Duration;

pub use file::Taint;
use file::{ServiceFile, TopologyFile};

use super::phrases::{Condition, LogMode};
use super::quantity::{parse_bytes, parse_cpu_millis, parse_go_duration};
use super::technology::{Protocol, Technology};

/// The image Chaos Mesh's pod-failure swaps in; every registry has it.
pub const PAUSE_IMAGE: &str = "gcr.io/google-containers/pause:latest";

/// A topology file that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError {
    pub file: String,
    /// Dotted path of the offending field, e.g. `services[3].dependencies[0].service`.
    pub field: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loading topology {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TopologyError {}

/// A configuration value the service reads from its ConfigMap, and what the software accepts.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEntry {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer: Option<IntegerRange>,
    #[serde(default)]
    pub duration: bool,
    #[serde(default)]
    pub boolean: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntegerRange {
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
}

impl ConfigEntry {
    /// `Err(what the software expected)` when the software would refuse `value`.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if let Some(allowed) = &self.one_of
            && !allowed.iter().any(|a| a == value)
        {
            return Err(format!("one of {}", allowed.join(", ")));
        }
        if let Some(range) = self.integer {
            let expected = match (range.min, range.max) {
                (Some(min), Some(max)) => format!("an integer between {min} and {max}"),
                (Some(min), None) => format!("an integer >= {min}"),
                (None, Some(max)) => format!("an integer <= {max}"),
                (None, None) => "an integer".to_string(),
            };
            let Ok(number) = value.trim().parse::<i64>() else { return Err(expected) };
            if range.min.is_some_and(|min| number < min) || range.max.is_some_and(|max| number > max) {
                return Err(expected);
            }
        }
        if self.duration && parse_go_duration(value).is_none() {
            return Err("a duration such as 30s or 5m".into());
        }
        if self.boolean && !matches!(value, "true" | "false" | "1" | "0") {
            return Err("true or false".into());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------
// The resolved topology.

#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub namespace: String,
    pub nodes: Vec<NodeSpec>,
    pub services: Vec<Service>,
    /// `repository → tags` the simulated registry holds.
    pub registry: BTreeMap<String, BTreeSet<String>>,
    /// `repository → tags` of releases with a regression (they crash at start).
    pub regressions: BTreeMap<String, BTreeSet<String>>,
    /// Service indexes, every service after all of its dependencies.
    pub dependency_order: Vec<usize>,
    by_name: HashMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub max_pods: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceList {
    pub cpu_millis: Option<u64>,
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub technology: Technology,
    pub image: String,
    pub container: String,
    pub replicas: u32,
    pub port: u16,
    pub protocol: Protocol,
    pub requests: ResourceList,
    pub limits: ResourceList,
    /// Working set once started.
    pub memory_baseline_bytes: u64,
    pub memory_growth_bytes_per_hour: u64,
    /// Datastores: memory each open client connection costs (a PostgreSQL backend is a process).
    pub memory_per_connection_bytes: u64,
    pub cpu_idle_millis: u64,
    /// CPU time one request costs, in millicore-seconds (`2m` = 2 ms of one core).
    pub cpu_per_request_millis: f64,
    /// Service time of one request without load or dependencies.
    pub latency_ms: f64,
    /// Requests per second arriving from outside the cluster.
    pub request_rate: f64,
    pub env: BTreeMap<String, String>,
    pub config: BTreeMap<String, ConfigEntry>,
    pub dependencies: Vec<Dependency>,
    pub max_connections: Option<u32>,
    pub database: String,
    pub startup: Duration,
    /// Pod labels; the selector is `app: <name>`.
    pub labels: BTreeMap<String, String>,
    /// Log phrasings that replace or extend the technology's table, by condition.
    pub logs: BTreeMap<String, Vec<String>>,
    pub log_mode: LogMode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// Index of the called service in `Topology::services`.
    pub service: usize,
    pub protocol: Protocol,
    pub calls_per_request: f64,
    /// Connections this client keeps at most, per pod.
    pub pool: Option<u32>,
    /// The environment variable holding the address.
    pub env: String,
    /// A failure degrades the caller's answer but does not fail it.
    pub optional: bool,
    pub timeout_ms: f64,
}

impl Service {
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_string(), self.name.clone())])
    }

    /// Whether a pod with these labels belongs to this service.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.get("app") == Some(&self.name)
    }
}

impl Topology {
    /// The built-in shop (namespace `shop`, 12 services on 3 nodes).
    pub fn shop() -> Topology {
        Self::from_yaml(include_str!("../../topologies/shop.yaml"), "lab/topologies/shop.yaml")
            .unwrap_or_else(|e| panic!("the built-in shop topology is valid: {e}"))
    }

    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            file: path.display().to_string(),
            field: String::new(),
            line: None,
            message: format!("reading the file: {e}"),
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    pub fn from_yaml(text: &str, file: &str) -> Result<Topology, TopologyError> {
        let parsed: TopologyFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let message = e.to_string();
            // serde_yaml_ng writes `path: message at line L column C`; split the path off as the field.
            let (field, message) = match message.split_once(": ") {
                Some((path, rest)) if !path.contains(' ') => (path.to_string(), rest.to_string()),
                _ => (String::new(), message),
            };
            TopologyError { file: file.into(), field, line: e.location().map(|l| l.line()), message }
        })?;
        Resolver { text, file }.resolve(parsed)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.by_name.get(name).map(|&i| &self.services[i])
    }

    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The service a pod with these labels belongs to.
    pub fn service_for_labels(&self, labels: &BTreeMap<String, String>) -> Option<usize> {
        labels.get("app").and_then(|name| self.service_index(name))
    }

    /// Services that call `service` (directly).
    pub fn callers_of(&self, service: usize) -> impl Iterator<Item = (usize, &Dependency)> + '_ {
        self.services
            .iter()
            .enumerate()
            .flat_map(move |(i, s)| s.dependencies.iter().filter(move |d| d.service == service).map(move |d| (i, d)))
    }

    /// Whether this image is a release the registry marks as a regression.
    pub fn is_regression(&self, image: &str) -> bool {
        let (repository, tag) = split_image(image);
        tag.is_some_and(|t| self.regressions.get(repository).is_some_and(|tags| tags.contains(t)))
    }

    /// Whether the registry holds this image reference.
    pub fn image_exists(&self, image: &str) -> bool {
        if image == PAUSE_IMAGE {
            return true;
        }
        let (repository, tag) = split_image(image);
        match self.registry.get(repository) {
            Some(tags) => tag.is_none_or(|t| tags.contains(t)) && (tag.is_some() || tags.contains("latest")),
            // A repository the topology does not own: the lab cannot know Docker Hub; assume it exists.
            None => true,
        }
    }
}

/// `(repository, tag)` of an image reference; a digest counts as a tag that exists.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    if let Some((repository, _digest)) = image.split_once('@') {
        return (repository, None);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => (&image[..last_slash + colon], Some(&image[last_slash + colon + 1..])),
        None => (image, Some("latest")),
    }
}

struct Resolver<'a> {
    text: &'a str,
    file: &'a str,
}

impl Resolver<'_> {
    fn error(&self, field: impl Into<String>, anchor: Option<&str>, message: impl Into<String>) -> TopologyError {
        let line = anchor.and_then(|needle| {
            self.text.lines().position(|line| {
                line.match_indices(needle).any(|(at, _)| {
                    let next = line[at + needle.len()..].chars().next();
                    !next.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                })
            })
        });
        let line = line.map(|i| i + 1);
        TopologyError { file: self.file.into(), field: field.into(), line, message: message.into() }
    }

    fn resolve(&self, file: TopologyFile) -> Result<Topology, TopologyError> {
        if !is_dns_label(&file.namespace) {
            return Err(self.error("namespace", Some("namespace:"), "must be a DNS label (lowercase, digits, '-')"));
        }
        if file.nodes.is_empty() {
            return Err(self.error("nodes", Some("nodes:"), "at least one node is required"));
        }
        let mut nodes = Vec::with_capacity(file.nodes.len());
        let mut node_names = BTreeSet::new();
        for (i, node) in file.nodes.into_iter().enumerate() {
            let field = format!("nodes[{i}]");
            let anchor = format!("name: {}", node.name);
            if !node_names.insert(node.name.clone()) {
                return Err(self.error(format!("{field}.name"), Some(&anchor), "duplicate node name"));
            }
            let cpu_millis = parse_cpu_millis(&node.cpu)
                .ok_or_else(|| self.error(format!("{field}.cpu"), Some(&anchor), "not a CPU quantity"))?;
            let memory_bytes = parse_bytes(&node.memory)
                .ok_or_else(|| self.error(format!("{field}.memory"), Some(&anchor), "not a memory quantity"))?;
            nodes.push(NodeSpec {
                name: node.name,
                cpu_millis,
                memory_bytes,
                max_pods: node.pods,
                labels: node.labels,
                taints: node.taints,
            });
        }

        let mut by_name = HashMap::new();
        for (i, service) in file.services.iter().enumerate() {
            let anchor = format!("name: {}", service.name);
            if !is_dns_label(&service.name) {
                return Err(self.error(format!("services[{i}].name"), Some(&anchor), "must be a DNS label"));
            }
            if by_name.insert(service.name.clone(), i).is_some() {
                return Err(self.error(format!("services[{i}].name"), Some(&anchor), "duplicate service name"));
            }
        }

        let mut registry: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut regressions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (i, entry) in file.registry.iter().enumerate() {
            if entry.image.contains(':') && !entry.image.contains('/') || split_image(&entry.image).1 != Some("latest")
            {
                let anchor = format!("image: {}", entry.image);
                return Err(self.error(
                    format!("registry[{i}].image"),
                    Some(&anchor),
                    "write the repository without a tag",
                ));
            }
            registry.entry(entry.image.clone()).or_default().extend(entry.tags.iter().cloned());
            if let Some(tag) = entry.regressions.iter().find(|t| !entry.tags.contains(t)) {
                return Err(self.error(
                    format!("registry[{i}].regressions"),
                    Some(tag),
                    format!("{tag:?} is not one of the tags"),
                ));
            }
            if !entry.regressions.is_empty() {
                regressions.entry(entry.image.clone()).or_default().extend(entry.regressions.iter().cloned());
            }
        }

        let mut services = Vec::with_capacity(file.services.len());
        for (i, raw) in file.services.iter().enumerate() {
            let service = self.resolve_service(i, raw, &file.services, &by_name)?;
            let (repository, tag) = split_image(&service.image);
            registry.entry(repository.to_string()).or_default().insert(tag.unwrap_or("latest").to_string());
            services.push(service);
        }
        let dependency_order = self.order(&services)?;
        Ok(Topology {
            name: file.name,
            namespace: file.namespace,
            nodes,
            services,
            registry,
            regressions,
            dependency_order,
            by_name,
        })
    }

    fn resolve_service(
        &self,
        i: usize,
        raw: &ServiceFile,
        all: &[ServiceFile],
        by_name: &HashMap<String, usize>,
    ) -> Result<Service, TopologyError> {
        let field = |rest: &str| format!("services[{i}].{rest}");
        let anchor = format!("name: {}", raw.name);
        let anchor = Some(anchor.as_str());
        let cpu = |value: &Option<String>, at: &str| -> Result<Option<u64>, TopologyError> {
            value
                .as_deref()
                .map(|v| parse_cpu_millis(v).ok_or_else(|| self.error(field(at), anchor, "not a CPU quantity")))
                .transpose()
        };
        let bytes = |value: &Option<String>, at: &str| -> Result<Option<u64>, TopologyError> {
            value
                .as_deref()
                .map(|v| parse_bytes(v).ok_or_else(|| self.error(field(at), anchor, "not a memory quantity")))
                .transpose()
        };
        let requests = ResourceList {
            cpu_millis: cpu(&raw.resources.requests.cpu, "resources.requests.cpu")?,
            memory_bytes: bytes(&raw.resources.requests.memory, "resources.requests.memory")?,
        };
        let limits = ResourceList {
            cpu_millis: cpu(&raw.resources.limits.cpu, "resources.limits.cpu")?,
            memory_bytes: bytes(&raw.resources.limits.memory, "resources.limits.memory")?,
        };
        if let (Some(request), Some(limit)) = (requests.memory_bytes, limits.memory_bytes)
            && request > limit
        {
            return Err(self.error(
                field("resources.requests.memory"),
                anchor,
                "must be less than or equal to the limit",
            ));
        }
        let memory_baseline_bytes = bytes(&raw.memory.baseline, "memory.baseline")?.unwrap_or(64 << 20);
        let memory_growth_bytes_per_hour = bytes(&raw.memory.growth_per_hour, "memory.growth_per_hour")?.unwrap_or(0);
        let memory_per_connection_bytes = bytes(&raw.memory.per_connection, "memory.per_connection")?.unwrap_or(0);
        let cpu_idle_millis = cpu(&raw.cpu.idle, "cpu.idle")?.unwrap_or(2);
        let cpu_per_request_millis = match &raw.cpu.per_request {
            Some(v) => super::quantity::parse(v)
                .map(|cores| cores * 1000.0)
                .filter(|m| *m >= 0.0)
                .ok_or_else(|| self.error(field("cpu.per_request"), anchor, "not a CPU quantity"))?,
            None => 1.0,
        };
        if raw.request_rate < 0.0 || !raw.request_rate.is_finite() {
            return Err(self.error(field("request_rate"), anchor, "must be a non-negative number"));
        }
        let startup = match &raw.startup {
            Some(text) => parse_go_duration(text)
                .ok_or_else(|| self.error(field("startup"), anchor, "not a duration (write 5s, 1m)"))?,
            None => raw.technology.default_startup(),
        };
        for (key, entry) in &raw.config {
            if let Err(expected) = entry.check(&entry.value) {
                return Err(self.error(
                    field(&format!("config.{key}.value")),
                    anchor,
                    format!("{:?} is not accepted by the service itself (expected {expected})", entry.value),
                ));
            }
        }
        for key in raw.logs.keys() {
            let (condition, protocol) = key.split_once('.').map_or((key.as_str(), None), |(c, p)| (c, Some(p)));
            let known_protocol = protocol.is_none_or(|p| serde_yaml_ng::from_str::<Protocol>(p).is_ok());
            if Condition::parse(condition).is_none() || !known_protocol {
                return Err(self.error(field(&format!("logs.{key}")), anchor, "not a log condition (see README.md)"));
            }
        }
        if raw.max_connections.is_some() && !raw.technology.is_datastore() {
            return Err(self.error(field("max_connections"), anchor, "only datastores accept max_connections"));
        }

        let mut dependencies = Vec::with_capacity(raw.dependencies.len());
        for (d, dep) in raw.dependencies.iter().enumerate() {
            let at = |rest: &str| field(&format!("dependencies[{d}].{rest}"));
            let Some(&target) = by_name.get(&dep.service) else {
                return Err(self.error(at("service"), anchor, format!("no service named {:?}", dep.service)));
            };
            if target == i {
                return Err(self.error(at("service"), anchor, "a service cannot depend on itself"));
            }
            if !(dep.calls_per_request.is_finite() && dep.calls_per_request >= 0.0) {
                return Err(self.error(at("calls_per_request"), anchor, "must be a non-negative number"));
            }
            let callee = &all[target];
            let protocol =
                dep.protocol.unwrap_or_else(|| callee.protocol.unwrap_or(callee.technology.default_protocol()));
            if dep.pool == Some(0) {
                return Err(self.error(at("pool"), anchor, "a pool holds at least one connection"));
            }
            dependencies.push(Dependency {
                service: target,
                protocol,
                calls_per_request: dep.calls_per_request,
                pool: dep.pool.or(protocol.is_pooled().then_some(10)),
                env: dep.env.clone().unwrap_or_else(|| protocol.default_env_name(raw.technology, &callee.name)),
                optional: dep.optional,
                timeout_ms: dep.timeout_ms.unwrap_or(match protocol {
                    Protocol::Http | Protocol::Grpc => 3000.0,
                    _ => 5000.0,
                }),
            });
        }
        let mut env_names = BTreeSet::new();
        for (d, dep) in dependencies.iter().enumerate() {
            if !env_names.insert(dep.env.as_str()) {
                let message = format!("two dependencies read their address from {}; set env on one of them", dep.env);
                return Err(self.error(field(&format!("dependencies[{d}].env")), anchor, message));
            }
        }

        let mut labels = raw.labels.clone();
        labels.insert("app".into(), raw.name.clone());
        labels.entry("app.kubernetes.io/name".into()).or_insert_with(|| raw.name.clone());
        Ok(Service {
            name: raw.name.clone(),
            technology: raw.technology,
            image: raw.image.clone(),
            container: raw.container.clone().unwrap_or_else(|| raw.name.clone()),
            replicas: raw.replicas,
            port: raw.port.unwrap_or(raw.technology.default_port()),
            protocol: raw.protocol.unwrap_or(raw.technology.default_protocol()),
            requests,
            limits,
            memory_baseline_bytes,
            memory_growth_bytes_per_hour,
            memory_per_connection_bytes,
            cpu_idle_millis,
            cpu_per_request_millis,
            latency_ms: raw.latency_ms.unwrap_or(if raw.technology.is_datastore() { 1.0 } else { 5.0 }),
            request_rate: raw.request_rate,
            env: raw.env.clone(),
            config: raw.config.clone(),
            dependencies,
            max_connections: raw.max_connections,
            database: raw.database.clone().unwrap_or_else(|| raw.name.clone()),
            startup,
            labels,
            logs: raw.logs.clone(),
            log_mode: raw.log_mode,
        })
    }

    /// Depth-first topological order; a cycle is an error naming the services on it.
    fn order(&self, services: &[Service]) -> Result<Vec<usize>, TopologyError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Visiting,
            Done,
        }
        fn visit(
            i: usize,
            services: &[Service],
            marks: &mut [Mark],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
        ) -> Result<(), Vec<usize>> {
            match marks[i] {
                Mark::Done => return Ok(()),
                Mark::Visiting => {
                    let start = stack.iter().position(|&s| s == i).unwrap_or(0);
                    return Err(stack[start..].to_vec());
                }
                Mark::New => {}
            }
            marks[i] = Mark::Visiting;
            stack.push(i);
            for dep in &services[i].dependencies {
                visit(dep.service, services, marks, stack, order)?;
            }
            stack.pop();
            marks[i] = Mark::Done;
            order.push(i);
            Ok(())
        }
        let mut marks = vec![Mark::New; services.len()];
        let mut order = Vec::with_capacity(services.len());
        for i in 0..services.len() {
            let mut stack = Vec::new();
            if let Err(cycle) = visit(i, services, &mut marks, &mut stack, &mut order) {
                let names: Vec<&str> = cycle.iter().map(|&s| services[s].name.as_str()).collect();
                let first = &services[cycle[0]].name;
                return Err(self.error(
                    format!("services[{}].dependencies", cycle[0]),
                    Some(&format!("name: {first}")),
                    format!("dependency cycle: {} -> {}", names.join(" -> "), first),
                ));
            }
        }
        Ok(order)
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

mod file;
#[cfg(test)]
mod tests;
