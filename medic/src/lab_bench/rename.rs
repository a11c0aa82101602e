//! Renaming every service of a scenario's topology, everywhere the scenario mentions it (experiments'
//! selectors, steps, expectations), so the suite can show that medic's rules do not depend on names.
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;

use super::scenario::{Scenario, Step, Target};

/// Old service name → new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renaming {
    names: BTreeMap<String, String>,
}

const SYLLABLES: [&str; 16] =
    ["ka", "lo", "mi", "ru", "te", "va", "zo", "ne", "pi", "so", "du", "fa", "gi", "ho", "ju", "we"];

impl Renaming {
    /// New names for `services`, drawn from `seed`: pronounceable, unrelated to what the services do, and
    /// distinct from every old name.
    pub fn for_services<'a>(services: impl IntoIterator<Item = &'a str>, seed: u64) -> Renaming {
        let olds: Vec<&str> = services.into_iter().collect();
        let mut state = seed ^ 0x5eed_0f4e_4a3e_5123;
        let mut next = || {
            // splitmix64: enough to draw syllables deterministically.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut names = BTreeMap::new();
        let mut taken: Vec<String> = olds.iter().map(|s| s.to_string()).collect();
        for old in &olds {
            let new = loop {
                let r = next();
                let word: String = (0..3).map(|i| SYLLABLES[((r >> (i * 8)) % 16) as usize]).collect();
                let candidate = if r % 3 == 0 { format!("{word}-{}", (r >> 40) % 90 + 10) } else { word };
                if !taken.contains(&candidate) {
                    break candidate;
                }
            };
            taken.push(new.clone());
            names.insert(old.to_string(), new);
        }
        Renaming { names }
    }

    pub fn get(&self, old: &str) -> Option<&str> {
        self.names.get(old).map(String::as_str)
    }

    fn name(&self, old: &str) -> String {
        self.get(old).unwrap_or(old).to_string()
    }

    /// `text` with every whole token that is an old name replaced. Tokens are runs of letters, digits,
    /// `-` and `_`, so `http://cart:7070`, `app: cart` and `cart.shop.svc` are renamed while `shop-cart`,
    /// `CART_TTL` and `${db_user}` are not.
    pub fn text(&self, text: &str) -> String {
        let is_token = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            let start = rest.find(is_token).unwrap_or(rest.len());
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !is_token(c)).unwrap_or(rest.len());
            let token = &rest[..end];
            out.push_str(self.get(token).unwrap_or(token));
            rest = &rest[end..];
        }
        out
    }

    fn yaml(&self, value: &mut Yaml) {
        match value {
            Yaml::String(s) => *s = self.text(s),
            Yaml::Sequence(items) => items.iter_mut().for_each(|v| self.yaml(v)),
            Yaml::Mapping(map) => map.values_mut().for_each(|v| self.yaml(v)),
            Yaml::Tagged(tagged) => self.yaml(&mut tagged.value),
            _ => {}
        }
    }

    fn json(&self, value: &mut Json) {
        match value {
            Json::String(s) => *s = self.text(s),
            Json::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Json::Object(map) => map.values_mut().for_each(|v| self.json(v)),
            _ => {}
        }
    }

    /// Every YAML document of `text` with its string values renamed (keys are left alone: they are field
    /// names, never service names).
    fn documents(&self, text: &str) -> String {
        let mut out = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let Ok(mut value) = <Yaml as serde::Deserialize>::deserialize(document) else {
                return self.text(text);
            };
            self.yaml(&mut value);
            out.push(serde_yaml_ng::to_string(&value).unwrap_or_default());
        }
        out.join("---\n")
    }

    /// The scenario with its services renamed.
    pub fn scenario(&self, scenario: &Scenario) -> Scenario {
        let mut s = scenario.clone();
        s.topology_yaml = self.documents(&scenario.topology_yaml);
        for step in &mut s.steps {
            match step {
                Step::Apply { yaml, .. } => *yaml = self.documents(yaml),
                Step::SetImage { deployment, container, .. } => {
                    *deployment = self.name(deployment);
                    *container = container.as_deref().map(|c| self.name(c));
                }
                Step::SetEnv { deployment, container, .. } => {
                    *deployment = self.name(deployment);
                    *container = container.as_deref().map(|c| self.name(c));
                }
                Step::Patch { deployment, patch } => {
                    *deployment = self.name(deployment);
                    self.json(patch);
                }
                Step::Alert(alert) => alert.labels.values_mut().for_each(|v| *v = self.text(v)),
                Step::Delete { .. } | Step::Wait(_) => {}
            }
        }
        let rename_target = |t: &mut Target| {
            if let Target::Workload(name) = t {
                *name = self.name(name);
            }
        };
        for cause in &mut s.expect.causes {
            rename_target(&mut cause.target);
        }
        for forbidden in &mut s.expect.forbidden {
            if let Some(t) = &mut forbidden.target {
                rename_target(t);
            }
        }
        s
    }
}

/// The services a scenario's topology declares.
pub fn service_names(scenario: &Scenario) -> Vec<String> {
    let topology: Yaml = serde_yaml_ng::from_str(&scenario.topology_yaml).unwrap_or(Yaml::Null);
    topology
        .get("services")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Yaml::as_str).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renaming() -> Renaming {
        Renaming {
            names: [("cart", "vako"), ("cart-redis", "mizo-42"), ("user", "tepi")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn whole_tokens_are_renamed_and_nothing_else() {
        let r = renaming();
        let table = [
            ("cart", "vako"),
            ("http://cart:7070/api", "http://vako:7070/api"),
            ("cart-redis.shop.svc.cluster.local:6379", "mizo-42.shop.svc.cluster.local:6379"),
            ("ghcr.io/medic-lab/shop-cart:3.2.0", "ghcr.io/medic-lab/shop-cart:3.2.0"),
            ("CART_TTL_SECONDS", "CART_TTL_SECONDS"),
            ("${db_user} user", "${db_user} tepi"),
            ("", ""),
        ];
        for (before, after) in table {
            assert_eq!(r.text(before), after, "{before:?}");
        }
    }

    #[test]
    fn drawn_names_are_distinct_deterministic_and_new() {
        let olds = ["frontend", "cart", "cart-redis", "checkout", "orders", "orders-db"];
        let a = Renaming::for_services(olds, 1);
        assert_eq!(a, Renaming::for_services(olds, 1));
        assert_ne!(a, Renaming::for_services(olds, 2));
        let news: Vec<&str> = olds.iter().map(|o| a.get(o).unwrap()).collect();
        for (i, n) in news.iter().enumerate() {
            assert!(!olds.contains(n), "{n} is an old name");
            assert!(!news[i + 1..].contains(n), "{n} twice");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{n}");
        }
    }

    #[test]
    fn manifests_keep_their_keys() {
        let r = renaming();
        let yaml = "kind: PodChaos\nspec:\n  selector:\n    labelSelectors: {app: cart}\n  cart: x\n";
        let out = r.documents(yaml);
        assert!(out.contains("app: vako") && out.contains("cart: x"), "{out}");
    }
}
