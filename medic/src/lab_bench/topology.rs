//! The topology a scenario runs: a built-in one by name, a file, or one written inline; with the
//! scenario's own log lines merged into its services.
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The topologies every medic binary carries.
pub const BUILTIN: &[(&str, &str)] = &[
    ("shop", include_str!("../../../lab/topologies/shop.yaml")),
    ("hotel", include_str!("../../../lab/topologies/hotel.yaml")),
];

/// `topology:` in a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TopologySource {
    /// `shop`, `hotel`, or a file path relative to the scenario.
    Named(String),
    /// A whole topology written in the scenario.
    Inline(Mapping),
}

/// The topology's YAML text.
pub fn resolve(source: &TopologySource, scenario: &Path) -> Result<String, String> {
    match source {
        TopologySource::Named(name) => {
            if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| n == name) {
                return Ok((*text).to_string());
            }
            let path = scenario.parent().unwrap_or(Path::new(".")).join(name);
            if !path.is_file() {
                let builtin: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "{name:?} is neither a built-in topology ({}) nor a file next to the scenario",
                    builtin.join(", ")
                ));
            }
            std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))
        }
        TopologySource::Inline(mapping) => {
            serde_yaml_ng::to_string(mapping).map_err(|e| format!("writing the inline topology: {e}"))
        }
    }
}

fn services(topology: &Value) -> impl Iterator<Item = &Value> {
    topology.get("services").and_then(Value::as_sequence).into_iter().flatten()
}

/// Whether the topology's text declares a service of that name.
pub fn has_service(topology_yaml: &str, name: &str) -> bool {
    serde_yaml_ng::from_str::<Value>(topology_yaml)
        .is_ok_and(|t| services(&t).any(|s| s.get("name").and_then(Value::as_str) == Some(name)))
}

/// The topology with `logs` (service → condition → phrasings) added to its services' own phrasings.
pub fn with_logs(
    topology_yaml: &str,
    logs: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Result<String, String> {
    if logs.is_empty() {
        return Ok(topology_yaml.to_string());
    }
    let mut topology: Value =
        serde_yaml_ng::from_str(topology_yaml).map_err(|e| format!("reading the topology: {e}"))?;
    let list = topology
        .get_mut("services")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| "the topology has no services".to_string())?;
    for (service, conditions) in logs {
        let entry = list
            .iter_mut()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(service.as_str()))
            .ok_or_else(|| format!("the topology has no service {service:?}"))?;
        let map = entry.as_mapping_mut().ok_or_else(|| format!("service {service:?} is not a mapping"))?;
        let own = map.entry(Value::from("logs")).or_insert_with(|| Value::Mapping(Mapping::new()));
        let own = own.as_mapping_mut().ok_or_else(|| format!("{service}.logs is not a mapping"))?;
        for (condition, lines) in conditions {
            let slot = own.entry(Value::from(condition.as_str())).or_insert_with(|| Value::Sequence(Vec::new()));
            let slot = slot.as_sequence_mut().ok_or_else(|| format!("{service}.logs.{condition} is not a list"))?;
            slot.extend(lines.iter().map(|l| Value::from(l.as_str())));
        }
    }
    serde_yaml_ng::to_string(&topology).map_err(|e| format!("writing the topology: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_topologies_resolve_by_name() {
        for (name, _) in BUILTIN {
            let text = resolve(&TopologySource::Named(name.to_string()), Path::new("x/s.yaml")).unwrap();
            medic_lab::app::Topology::from_yaml(&text, name).unwrap();
        }
        let missing = resolve(&TopologySource::Named("nope.yaml".into()), Path::new("/nonexistent/s.yaml"));
        assert!(missing.unwrap_err().contains("neither a built-in topology (shop, hotel)"));
    }

    #[test]
    fn scenario_log_lines_join_the_service_phrasings() {
        let shop = BUILTIN[0].1;
        let logs = BTreeMap::from([(
            "orders-db".to_string(),
            BTreeMap::from([("connections_exhausted".to_string(), vec!["FATAL: custom line".to_string()])]),
        )]);
        let merged = with_logs(shop, &logs).unwrap();
        let topology = medic_lab::app::Topology::from_yaml(&merged, "merged").unwrap();
        let db = topology.service("orders-db").unwrap();
        assert_eq!(db.logs["connections_exhausted"], ["FATAL: custom line"]);
        assert!(has_service(shop, "cart-redis") && !has_service(shop, "cart-redis-2"));
        let unknown = BTreeMap::from([("ghost".to_string(), BTreeMap::new())]);
        assert!(with_logs(shop, &unknown).unwrap_err().contains("no service \"ghost\""));
    }
}
