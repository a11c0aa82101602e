//! Experiment specs: Chaos Mesh's PodChaos, NetworkChaos, StressChaos (chaos-mesh.org/v1alpha1) and
//! the lab's LabFault (lab.medic.io/v1alpha1), parsed and validated as Chaos Mesh's webhooks do.
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::effects::Direction;
use crate::app::quantity::{parse_bytes, parse_go_duration};
use crate::store::Kind;

/// `spec.selector` of every experiment (Chaos Mesh's `PodSelectorSpec`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectorSpec {
    pub namespaces: Vec<String>,
    pub nodes: Vec<String>,
    pub pods: BTreeMap<String, Vec<String>>,
    pub node_selectors: BTreeMap<String, String>,
    pub field_selectors: BTreeMap<String, String>,
    pub label_selectors: BTreeMap<String, String>,
    pub expression_selectors: Vec<Expression>,
    pub annotation_selectors: BTreeMap<String, String>,
    pub pod_phase_selectors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Expression {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// `mode` and `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    One,
    All,
    Fixed(usize),
    FixedPercent(u32),
    RandomMaxPercent(u32),
}

/// Which pods an experiment (or its network target) selects.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub mode: Mode,
    pub selector: SelectorSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NetworkFault {
    Delay { latency: Duration, jitter: Duration },
    Loss { percent: f64 },
    Partition,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    PodKill { grace_period_seconds: i64 },
    PodFailure,
    ContainerKill { containers: Vec<String> },
    Network { fault: NetworkFault, direction: Direction, target: Option<Selection> },
    Stress { cpu_millis: f64, memory_bytes: u64, containers: Vec<String> },
    MemoryLeak { bytes_per_second: f64 },
    ConnectionLeak { per_minute: f64, target: Option<String> },
    NodeFailure { nodes: Vec<String> },
    Egress { address: String, ip: Ipv4Addr, port: u16, bytes_per_second: f64 },
    TrafficSurge { factor: f64 },
}

impl Fault {
    /// Chaos Mesh's one-shot actions: applied once, nothing to recover.
    pub fn is_one_shot(&self) -> bool {
        matches!(self, Fault::PodKill { .. } | Fault::ContainerKill { .. })
    }

    /// Whether the fault follows the workload (applies to pods the selector matches later too):
    /// the lab's faults model bugs in the software, which every new pod of it has.
    pub fn follows_workload(&self) -> bool {
        matches!(
            self,
            Fault::MemoryLeak { .. } | Fault::ConnectionLeak { .. } | Fault::Egress { .. } | Fault::TrafficSurge { .. }
        )
    }

    /// The action's name as the spec writes it.
    pub fn action(&self) -> &'static str {
        match self {
            Fault::PodKill { .. } => "pod-kill",
            Fault::PodFailure => "pod-failure",
            Fault::ContainerKill { .. } => "container-kill",
            Fault::Network { fault: NetworkFault::Delay { .. }, .. } => "delay",
            Fault::Network { fault: NetworkFault::Loss { .. }, .. } => "loss",
            Fault::Network { fault: NetworkFault::Partition, .. } => "partition",
            Fault::Stress { .. } => "stress",
            Fault::MemoryLeak { .. } => "memory-leak",
            Fault::ConnectionLeak { .. } => "connection-leak",
            Fault::NodeFailure { .. } => "node-failure",
            Fault::Egress { .. } => "egress",
            Fault::TrafficSurge { .. } => "traffic-surge",
        }
    }
}

/// A parsed experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub selection: Selection,
    pub fault: Fault,
    pub duration: Option<Duration>,
}

/// A request Chaos Mesh's validating webhook (or the lab's, for LabFault) would deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// `vpodchaos.kb.io`, ...
    pub webhook: String,
    pub message: String,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "admission webhook \"{}\" denied the request: {}", self.webhook, self.message)
    }
}

impl std::error::Error for Denied {}

/// Whether the API server should admit this object of an experiment kind (what Chaos Mesh's webhook
/// answers). Kinds that are not experiments are always admitted.
pub fn validate(kind: Kind, object: &Value) -> Result<(), Denied> {
    if !matches!(kind, Kind::PodChaos | Kind::NetworkChaos | Kind::StressChaos | Kind::LabFault) {
        return Ok(());
    }
    parse(kind, object).map(|_| ()).map_err(|errors| Denied {
        webhook: format!("v{}.kb.io", kind.kind().to_ascii_lowercase()),
        message: if errors.len() == 1 { errors[0].clone() } else { format!("[{}]", errors.join(", ")) },
    })
}

fn invalid(field: &str, value: &str, detail: &str) -> String {
    format!("{field}: Invalid value: \"{value}\": {detail}")
}

fn unsupported(field: &str, value: &str, supported: &[&str]) -> String {
    let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
    format!("{field}: Unsupported value: \"{value}\": supported values: {}", list.join(", "))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// A number or numeric string (Chaos Mesh writes percentages as strings: `loss: "25"`).
fn number_at(value: &Value, pointer: &str) -> Option<Result<f64, String>> {
    let field = value.pointer(pointer)?;
    Some(match field {
        Value::Number(n) => n.as_f64().ok_or_else(|| n.to_string()),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| s.clone()),
        other => Err(other.to_string()),
    })
}

fn parse_mode(spec: &Value, field: &str, errors: &mut Vec<String>) -> Mode {
    let mode = spec.get("mode").and_then(Value::as_str).unwrap_or("");
    let value = match spec.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let at = |f: &str| if field.is_empty() { format!("spec.{f}") } else { format!("spec.{field}.{f}") };
    let number = |errors: &mut Vec<String>, percent: bool| -> u32 {
        match value.trim().parse::<i64>() {
            Ok(n) if n > 0 && (!percent || n <= 100) => n as u32,
            _ => {
                let detail = if percent {
                    "value should be an integer between 1 and 100"
                } else {
                    "value should be a positive integer"
                };
                errors.push(invalid(&at("value"), &value, detail));
                1
            }
        }
    };
    match mode {
        "one" => Mode::One,
        "all" => Mode::All,
        "fixed" => Mode::Fixed(number(errors, false) as usize),
        "fixed-percent" => Mode::FixedPercent(number(errors, true)),
        "random-max-percent" => Mode::RandomMaxPercent(number(errors, true)),
        other => {
            errors.push(unsupported(
                &at("mode"),
                other,
                &["one", "all", "fixed", "fixed-percent", "random-max-percent"],
            ));
            Mode::One
        }
    }
}

fn parse_selection(spec: &Value, field: &str, namespace: &str, errors: &mut Vec<String>) -> Selection {
    let mode = parse_mode(spec, field, errors);
    let selector_field = if field.is_empty() { "spec.selector".to_string() } else { format!("spec.{field}.selector") };
    let mut selector = match spec.get("selector") {
        None | Some(Value::Null) => SelectorSpec::default(),
        Some(value) => serde_json::from_value::<SelectorSpec>(value.clone()).unwrap_or_else(|e| {
            errors.push(format!("{selector_field}: Invalid value: {e}"));
            SelectorSpec::default()
        }),
    };
    // Chaos Mesh's defaulting webhook: no namespaces means the experiment's own.
    if selector.namespaces.is_empty() && selector.pods.is_empty() {
        selector.namespaces.push(namespace.to_string());
    }
    for (i, e) in selector.expression_selectors.iter().enumerate() {
        if !matches!(e.operator.as_str(), "In" | "NotIn" | "Exists" | "DoesNotExist") {
            errors.push(unsupported(
                &format!("{selector_field}.expressionSelectors[{i}].operator"),
                &e.operator,
                &["In", "NotIn", "Exists", "DoesNotExist"],
            ));
        }
    }
    Selection { mode, selector }
}

/// Parse and validate an experiment object; the error lists every problem in Kubernetes' field
/// error phrasing.
pub fn parse(kind: Kind, object: &Value) -> Result<Experiment, Vec<String>> {
    let mut errors = Vec::new();
    let namespace = str_at(object, "/metadata/namespace").unwrap_or("default").to_string();
    let empty = Value::Null;
    let spec = object.get("spec").unwrap_or(&empty);
    let duration = match spec.get("duration") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match parse_go_duration(text) {
            Some(d) => Some(d),
            None => {
                errors.push(invalid("spec.duration", text, &format!("time: invalid duration \"{text}\"")));
                None
            }
        },
        Some(other) => {
            errors.push(invalid("spec.duration", &other.to_string(), "must be a duration string"));
            None
        }
    };
    let action = spec.get("action").and_then(Value::as_str).unwrap_or("");
    let needs_selection = !(kind == Kind::LabFault && action == "node-failure");
    let selection = if needs_selection || spec.get("mode").is_some() {
        parse_selection(spec, "", &namespace, &mut errors)
    } else {
        Selection { mode: Mode::All, selector: SelectorSpec::default() }
    };
    let fault = match kind {
        Kind::PodChaos => pod_chaos(spec, action, &mut errors),
        Kind::NetworkChaos => network_chaos(spec, action, &namespace, &mut errors),
        Kind::StressChaos => stress_chaos(spec, &mut errors),
        Kind::LabFault => lab_fault(spec, action, &mut errors),
        _ => {
            errors.push(format!("kind {} is not an experiment", kind.kind()));
            Fault::PodFailure
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Experiment {
        kind,
        namespace,
        name: str_at(object, "/metadata/name").unwrap_or_default().to_string(),
        uid: str_at(object, "/metadata/uid").unwrap_or_default().to_string(),
        selection,
        fault,
        duration,
    })
}

fn strings_at(spec: &Value, key: &str) -> Vec<String> {
    spec.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn pod_chaos(spec: &Value, action: &str, errors: &mut Vec<String>) -> Fault {
    match action {
        "pod-kill" => {
            Fault::PodKill { grace_period_seconds: spec.get("gracePeriod").and_then(Value::as_i64).unwrap_or(0).max(0) }
        }
        "pod-failure" => Fault::PodFailure,
        "container-kill" => {
            let containers = strings_at(spec, "containerNames");
            if containers.is_empty() {
                errors.push("spec.containerNames: Invalid value: \"[]\": the name of container is required on container-kill action".into());
            }
            Fault::ContainerKill { containers }
        }
        other => {
            errors.push(unsupported("spec.action", other, &["pod-kill", "pod-failure", "container-kill"]));
            Fault::PodFailure
        }
    }
}

fn network_chaos(spec: &Value, action: &str, namespace: &str, errors: &mut Vec<String>) -> Fault {
    let direction = match spec.get("direction").and_then(Value::as_str).unwrap_or("to") {
        "to" | "" => Direction::To,
        "from" => Direction::From,
        "both" => Direction::Both,
        other => {
            errors.push(unsupported("spec.direction", other, &["to", "from", "both"]));
            Direction::To
        }
    };
    let target = spec.get("target").filter(|t| !t.is_null()).map(|t| parse_selection(t, "target", namespace, errors));
    let fault = match action {
        "delay" | "netem" if spec.get("delay").is_some() => {
            let latency_text = str_at(spec, "/delay/latency").unwrap_or("");
            let latency = parse_go_duration(latency_text).unwrap_or_else(|| {
                errors.push(invalid("spec.delay.latency", latency_text, "parse latency field error"));
                Duration::ZERO
            });
            let jitter_text = str_at(spec, "/delay/jitter").unwrap_or("0ms");
            let jitter = parse_go_duration(jitter_text).unwrap_or_else(|| {
                errors.push(invalid("spec.delay.jitter", jitter_text, "parse jitter field error"));
                Duration::ZERO
            });
            if let Some(Err(bad)) = number_at(spec, "/delay/correlation") {
                errors.push(invalid("spec.delay.correlation", &bad, "parse correlation field error"));
            }
            NetworkFault::Delay { latency, jitter }
        }
        "loss" | "netem" if spec.get("loss").is_some() => {
            let percent = match number_at(spec, "/loss/loss") {
                Some(Ok(p)) if (0.0..=100.0).contains(&p) => p,
                Some(Ok(p)) => {
                    errors.push(invalid("spec.loss.loss", &p.to_string(), "must be between 0 and 100"));
                    0.0
                }
                Some(Err(bad)) => {
                    errors.push(invalid("spec.loss.loss", &bad, "parse loss field error"));
                    0.0
                }
                None => {
                    errors.push("spec.loss.loss: Required value".into());
                    0.0
                }
            };
            if let Some(Err(bad)) = number_at(spec, "/loss/correlation") {
                errors.push(invalid("spec.loss.correlation", &bad, "parse correlation field error"));
            }
            NetworkFault::Loss { percent }
        }
        "delay" => {
            errors.push("spec.delay: Required value: delay action needs spec.delay".into());
            NetworkFault::Partition
        }
        "loss" => {
            errors.push("spec.loss: Required value: loss action needs spec.loss".into());
            NetworkFault::Partition
        }
        "partition" => NetworkFault::Partition,
        other => {
            errors.push(unsupported("spec.action", other, &["delay", "loss", "partition", "netem"]));
            NetworkFault::Partition
        }
    };
    if fault != NetworkFault::Partition && matches!(direction, Direction::From | Direction::Both) && target.is_none() {
        let text = if direction == Direction::From { "from" } else { "both" };
        errors.push(invalid(
            "spec.target.direction",
            text,
            "`from` and `both` direction cannot be used when targets is empty in netem action",
        ));
    }
    Fault::Network { fault, direction, target }
}

fn stress_chaos(spec: &Value, errors: &mut Vec<String>) -> Fault {
    let stressors = spec.get("stressors");
    if stressors.is_none_or(|s| s.get("cpu").is_none() && s.get("memory").is_none()) {
        errors.push("spec.stressors: Invalid value: \"null\": missing stressors".into());
        return Fault::Stress { cpu_millis: 0.0, memory_bytes: 0, containers: Vec::new() };
    }
    let stressors = stressors.expect("checked");
    let mut cpu_millis = 0.0;
    if stressors.get("cpu").is_some() {
        let workers = stressors.pointer("/cpu/workers").and_then(Value::as_u64).unwrap_or(0);
        if workers == 0 {
            errors.push("spec.stressors.cpu.workers: Invalid value: \"0\": workers should be greater than 0".into());
        }
        let load = stressors.pointer("/cpu/load").and_then(Value::as_u64).unwrap_or(100).min(100);
        cpu_millis = workers as f64 * load as f64 * 10.0;
    }
    let mut memory_bytes = 0;
    if stressors.get("memory").is_some() {
        let workers = stressors.pointer("/memory/workers").and_then(Value::as_u64).unwrap_or(0);
        if workers == 0 {
            errors.push("spec.stressors.memory.workers: Invalid value: \"0\": workers should be greater than 0".into());
        }
        let size = str_at(stressors, "/memory/size").unwrap_or("");
        match stress_size(size) {
            Some(bytes) if bytes > 0 => memory_bytes = bytes * workers.max(1),
            _ => errors.push(invalid("spec.stressors.memory.size", size, "size should be like 256MB or 1GB")),
        }
    }
    Fault::Stress { cpu_millis, memory_bytes, containers: strings_at(spec, "containerNames") }
}

/// stress-ng's sizes are binary: `256MB`, `1GB`, `512M`, `64KB` (a percentage of memory is not modelled).
fn stress_size(size: &str) -> Option<u64> {
    let trimmed = size.trim().trim_end_matches(['B', 'b']);
    let normalised = match trimmed.chars().last() {
        Some(unit @ ('K' | 'k' | 'M' | 'm' | 'G' | 'g' | 'T' | 't')) => {
            format!("{}{}i", &trimmed[..trimmed.len() - 1], unit.to_ascii_uppercase())
        }
        _ => trimmed.to_string(),
    };
    parse_bytes(&normalised)
}

fn lab_fault(spec: &Value, action: &str, errors: &mut Vec<String>) -> Fault {
    let supported = ["memory-leak", "connection-leak", "node-failure", "egress", "traffic-surge"];
    match action {
        "memory-leak" => {
            let rate = str_at(spec, "/memoryLeak/bytesPerSecond").unwrap_or("1Mi");
            match parse_bytes(rate) {
                Some(bytes) if bytes > 0 => Fault::MemoryLeak { bytes_per_second: bytes as f64 },
                _ => {
                    errors.push(invalid("spec.memoryLeak.bytesPerSecond", rate, "a quantity such as 512Ki or 2Mi"));
                    Fault::MemoryLeak { bytes_per_second: 0.0 }
                }
            }
        }
        "connection-leak" => {
            let per_minute = match number_at(spec, "/connectionLeak/perMinute") {
                None => 10.0,
                Some(Ok(n)) if n > 0.0 => n,
                Some(Ok(n)) => {
                    errors.push(invalid("spec.connectionLeak.perMinute", &n.to_string(), "must be positive"));
                    0.0
                }
                Some(Err(bad)) => {
                    errors.push(invalid("spec.connectionLeak.perMinute", &bad, "must be a number"));
                    0.0
                }
            };
            Fault::ConnectionLeak { per_minute, target: str_at(spec, "/connectionLeak/target").map(String::from) }
        }
        "node-failure" => {
            let mut nodes = strings_at(spec.get("nodeFailure").unwrap_or(&Value::Null), "nodes");
            nodes.extend(
                spec.pointer("/selector/nodes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(String::from)),
            );
            if nodes.is_empty() {
                errors.push("spec.nodeFailure.nodes: Required value: name the nodes that fail".into());
            }
            Fault::NodeFailure { nodes }
        }
        "egress" => {
            let address = str_at(spec, "/egress/address").unwrap_or("");
            let parsed = address
                .rsplit_once(':')
                .and_then(|(ip, port)| Some((ip.parse::<Ipv4Addr>().ok()?, port.parse::<u16>().ok()?)));
            let bytes_per_second =
                str_at(spec, "/egress/bytesPerSecond").and_then(parse_bytes).unwrap_or(16 << 10) as f64;
            match parsed {
                Some((ip, port)) => Fault::Egress { address: address.to_string(), ip, port, bytes_per_second },
                None => {
                    errors.push(invalid(
                        "spec.egress.address",
                        address,
                        "an IPv4 address and port such as 203.0.113.50:4444",
                    ));
                    Fault::Egress { address: String::new(), ip: Ipv4Addr::UNSPECIFIED, port: 0, bytes_per_second }
                }
            }
        }
        "traffic-surge" => match number_at(spec, "/trafficSurge/factor") {
            Some(Ok(factor)) if factor > 0.0 => Fault::TrafficSurge { factor },
            _ => {
                errors.push(
                    "spec.trafficSurge.factor: Required value: a positive multiplier of the usual traffic".into(),
                );
                Fault::TrafficSurge { factor: 1.0 }
            }
        },
        other => {
            errors.push(unsupported("spec.action", other, &supported));
            Fault::TrafficSurge { factor: 1.0 }
        }
    }
}

#[cfg(test)]
mod tests;
