//! How far medic may go in a namespace: observe (diagnose and report only), propose (plans wait for a
//! human's approval) or act (apply within policy, then report). The Director enforces the mode and the
//! Executor's guard checks it again before writing.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Ordered by strictness: `Act < Propose < Observe`, so the strictest of several is their maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Apply plans within policy, then report (plans that need an approval still wait for one).
    #[default]
    Act,
    /// Every plan waits for a human's approval.
    Propose,
    /// Diagnose and report only: the plan medic would have run is recorded and sent, nothing is written.
    Observe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Act => "act",
            Mode::Propose => "propose",
            Mode::Observe => "observe",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[modes]` in medic's configuration: a default and per-namespace exceptions.
///
/// ```toml
/// [modes]
/// default = "act"
/// namespaces = { payments = "propose", ledger = "observe" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModesConfig {
    pub default: Mode,
    pub namespaces: BTreeMap<String, Mode>,
}

impl ModesConfig {
    /// The mode of one namespace.
    pub fn of(&self, namespace: &str) -> Mode {
        self.namespaces.get(namespace).copied().unwrap_or(self.default)
    }

    /// The strictest mode among `namespaces`, with the namespace that imposes it; the default mode (and no
    /// namespace) when there are none.
    pub fn strictest<'a>(&self, namespaces: impl IntoIterator<Item = &'a str>) -> (Mode, Option<&'a str>) {
        namespaces
            .into_iter()
            .map(|ns| (self.of(ns), Some(ns)))
            .max_by_key(|(mode, _)| *mode)
            .unwrap_or((self.default, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strictest_namespace_decides() {
        let modes = ModesConfig {
            default: Mode::Act,
            namespaces: BTreeMap::from([("payments".into(), Mode::Propose), ("ledger".into(), Mode::Observe)]),
        };
        let cases: [(&[&str], Mode, Option<&str>); 5] = [
            (&[], Mode::Act, None),
            (&["shop"], Mode::Act, Some("shop")),
            (&["shop", "payments"], Mode::Propose, Some("payments")),
            (&["payments", "ledger", "shop"], Mode::Observe, Some("ledger")),
            (&["ledger"], Mode::Observe, Some("ledger")),
        ];
        for (namespaces, mode, by) in cases {
            assert_eq!(modes.strictest(namespaces.iter().copied()), (mode, by), "{namespaces:?}");
        }
        let observing = ModesConfig { default: Mode::Observe, ..ModesConfig::default() };
        assert_eq!(observing.strictest([]), (Mode::Observe, None));
    }

    #[test]
    fn it_reads_from_toml_shaped_json() {
        let modes: ModesConfig =
            serde_json::from_value(serde_json::json!({"default": "propose", "namespaces": {"shop": "act"}})).unwrap();
        assert_eq!((modes.of("shop"), modes.of("other")), (Mode::Act, Mode::Propose));
        assert!(serde_json::from_value::<ModesConfig>(serde_json::json!({"default": "yolo"})).is_err());
        assert!(serde_json::from_value::<ModesConfig>(serde_json::json!({"defaults": "act"})).is_err());
    }
}
