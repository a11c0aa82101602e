//! The playbook model after validation, and the tables of what each action and verification check takes.
//!
//! The action names and fields mirror `medic_core::ActionSpec` (a test renders every action to check that
//! the two agree), so a playbook step is an `ActionSpec` with templates in place of values.
use medic_core::{ObjectKind, Risk, RootCauseClass};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::template::{Reference, Template};

/// What a step or check field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Integer,
    Boolean,
    /// A string → string map (a label selector).
    Map,
    /// A resource name → quantity map (`memory: 512Mi`).
    Quantities,
}

impl FieldKind {
    pub fn is_map(self) -> bool {
        matches!(self, FieldKind::Map | FieldKind::Quantities)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct FieldSchema {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Used when an optional field is absent.
    pub default: Option<&'static str>,
}

const fn text(name: &'static str) -> FieldSchema {
    FieldSchema { name, kind: FieldKind::Text, required: true, default: None }
}

#[derive(Debug, PartialEq, Eq)]
pub struct ActionSchema {
    pub name: &'static str,
    pub fields: &'static [FieldSchema],
    /// At least one of these fields must be present.
    pub at_least_one_of: &'static [&'static str],
}

impl ActionSchema {
    pub fn field(&self, name: &str) -> Option<&'static FieldSchema> {
        let fields: &'static [FieldSchema] = self.fields;
        fields.iter().find(|f| f.name == name)
    }
}

/// Every action the Executor applies, with its fields.
pub static ACTIONS: &[ActionSchema] = &[
    ActionSchema { name: "delete-pod", fields: &[text("namespace"), text("pod")], at_least_one_of: &[] },
    ActionSchema { name: "rollout-restart", fields: &[text("namespace"), text("deployment")], at_least_one_of: &[] },
    ActionSchema {
        name: "scale",
        fields: &[
            text("namespace"),
            text("deployment"),
            FieldSchema { name: "replicas", kind: FieldKind::Integer, required: true, default: None },
        ],
        at_least_one_of: &[],
    },
    ActionSchema {
        name: "patch-resources",
        fields: &[
            text("namespace"),
            text("deployment"),
            text("container"),
            FieldSchema { name: "requests", kind: FieldKind::Quantities, required: false, default: None },
            FieldSchema { name: "limits", kind: FieldKind::Quantities, required: false, default: None },
        ],
        at_least_one_of: &["requests", "limits"],
    },
    ActionSchema {
        name: "rollback-deployment",
        fields: &[
            text("namespace"),
            text("deployment"),
            FieldSchema { name: "to_revision", kind: FieldKind::Integer, required: false, default: None },
        ],
        at_least_one_of: &[],
    },
    ActionSchema {
        name: "cordon",
        fields: &[
            text("node"),
            FieldSchema { name: "unschedulable", kind: FieldKind::Boolean, required: false, default: Some("true") },
        ],
        at_least_one_of: &[],
    },
    ActionSchema { name: "drain", fields: &[text("node")], at_least_one_of: &[] },
    ActionSchema {
        name: "quarantine",
        fields: &[
            text("namespace"),
            text("policy"),
            FieldSchema { name: "pod_selector", kind: FieldKind::Map, required: true, default: None },
        ],
        at_least_one_of: &[],
    },
    ActionSchema { name: "unquarantine", fields: &[text("namespace"), text("policy")], at_least_one_of: &[] },
];

#[derive(Debug, PartialEq, Eq)]
pub struct CheckSchema {
    pub name: &'static str,
    pub fields: &'static [FieldSchema],
}

/// Every verification check, with its fields (mirrors `medic_core::VerifyCheck`).
pub static CHECKS: &[CheckSchema] = &[
    CheckSchema { name: "workload-healthy", fields: &[text("namespace"), text("deployment")] },
    CheckSchema { name: "node-drained", fields: &[text("node")] },
    CheckSchema { name: "quarantined", fields: &[text("namespace"), text("policy")] },
    CheckSchema { name: "alert-resolved", fields: &[] },
];

pub fn action_schema(name: &str) -> Option<&'static ActionSchema> {
    ACTIONS.iter().find(|a| a.name == name)
}

pub fn check_schema(name: &str) -> Option<&'static CheckSchema> {
    CHECKS.iter().find(|c| c.name == name)
}

/// The type of a declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Quantity,
    Boolean,
}

impl ParamType {
    pub const ALL: [ParamType; 4] = [ParamType::String, ParamType::Integer, ParamType::Quantity, ParamType::Boolean];

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Quantity => "quantity",
            ParamType::Boolean => "boolean",
        }
    }

    /// Why `value` is not of this type, if it is not.
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ParamType::String => true,
            ParamType::Integer => value.parse::<i64>().is_ok(),
            ParamType::Quantity => crate::values::is_quantity(value),
            ParamType::Boolean => matches!(value, "true" | "false"),
        };
        if ok { Ok(()) } else { Err(format!("{value:?} is not {}", self.with_article())) }
    }

    /// `a string`, `an integer`, ...
    pub fn with_article(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Integer => "an integer",
            ParamType::Quantity => "a quantity",
            ParamType::Boolean => "a boolean",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub kind: ParamType,
    /// A hypothesis must supply it (or the default must resolve).
    pub required: bool,
    /// A template over the target, the incident and the context (never over other parameters).
    pub default: Option<Template>,
    pub description: String,
}

/// A step or check field: a scalar template, a map of templates, or a placeholder giving a whole map.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldTemplate {
    Scalar(Template),
    Map(BTreeMap<String, Template>),
    MapRef(Reference),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepTemplate {
    pub action: &'static ActionSchema,
    pub fields: Vec<(&'static FieldSchema, FieldTemplate)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckTemplate {
    pub check: &'static CheckSchema,
    pub fields: Vec<(&'static FieldSchema, Template)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerifyTemplate {
    pub checks: Vec<CheckTemplate>,
    /// How long the checks may take to pass.
    pub timeout: Duration,
    /// How long they must keep passing.
    pub stable: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackMode {
    /// Undo the applied steps when verification fails.
    Automatic,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Never,
    Always,
    WhenRiskHigh,
}

impl Approval {
    pub fn required(self, risk: Risk) -> bool {
        match self {
            Approval::Never => false,
            Approval::Always => true,
            Approval::WhenRiskHigh => risk == Risk::High,
        }
    }
}

/// A validated playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub id: String,
    pub version: String,
    pub description: String,
    /// The root-cause classes it remedies.
    pub classes: Vec<RootCauseClass>,
    /// The kinds of target it applies to; empty means any.
    pub target_kinds: Vec<ObjectKind>,
    pub parameters: BTreeMap<String, Parameter>,
    pub steps: Vec<StepTemplate>,
    pub verify: VerifyTemplate,
    pub rollback: RollbackMode,
    pub risk: Risk,
    pub approval: Approval,
    /// Where it was loaded from (`builtin:catalog/x.yaml` or a file path).
    pub source: String,
}

impl Playbook {
    /// Whether this playbook remedies `class` on a target of `kind`.
    pub fn matches(&self, class: RootCauseClass, kind: ObjectKind) -> bool {
        self.classes.contains(&class) && (self.target_kinds.is_empty() || self.target_kinds.contains(&kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::{ActionSpec, VerifyCheck};
    use serde_json::{Map, Value, json};

    fn sample(kind: FieldKind) -> Value {
        match kind {
            FieldKind::Text => json!("x"),
            FieldKind::Integer => json!(2),
            FieldKind::Boolean => json!(true),
            FieldKind::Map | FieldKind::Quantities => json!({"memory": "1Gi"}),
        }
    }

    fn object(tag: &str, name: &str, fields: &[FieldSchema]) -> Value {
        let mut m = Map::new();
        m.insert(tag.into(), json!(name));
        for f in fields {
            m.insert(f.name.into(), sample(f.kind));
        }
        Value::Object(m)
    }

    /// The tables and core's `ActionSpec`/`VerifyCheck` agree: every schema deserialises into the variant
    /// of the same name, and a field the schema omits is rejected.
    #[test]
    fn the_tables_match_the_core_types() {
        for action in ACTIONS {
            let spec: ActionSpec = serde_json::from_value(object("action", action.name, action.fields))
                .unwrap_or_else(|e| panic!("{}: {e}", action.name));
            assert_eq!(spec.name(), action.name);
            for required in action.fields.iter().filter(|f| f.required) {
                let mut v = object("action", action.name, action.fields);
                v.as_object_mut().unwrap().remove(required.name);
                assert!(serde_json::from_value::<ActionSpec>(v).is_err(), "{}.{}", action.name, required.name);
            }
        }
        for check in CHECKS {
            serde_json::from_value::<VerifyCheck>(object("check", check.name, check.fields))
                .unwrap_or_else(|e| panic!("{}: {e}", check.name));
        }
    }
}
