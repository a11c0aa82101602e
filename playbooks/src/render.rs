//! Rendering a playbook into a `Plan`: a pure function of the playbook, the hypothesis, the incident and
//! its context. The same inputs give the same plan, id included.
use medic_core::context::PodSnapshot;
use medic_core::{
    ActionSpec, Hypothesis, IncidentContext, IncidentUid, ObjectKind, Plan, PlanId, VerifyCheck, VerifySpec,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::schema::{FieldKind, FieldSchema, FieldTemplate, ParamType, Playbook, RollbackMode};
use crate::template::{ContextValue, Reference, Segment, Template};
use crate::values::{is_quantity, whole_seconds};

/// Waiting or terminated reasons that mean a container is failing.
const FAILING_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "OOMKilled",
    "Error",
];

impl Playbook {
    /// The plan that applies this playbook to `hypothesis` for `incident`.
    ///
    /// The plan id is derived from the incident and the rendered steps, so rendering twice gives the same
    /// plan (and the Executor recognises a plan it already ran).
    pub fn plan(&self, hypothesis: &Hypothesis, incident: IncidentUid, context: &IncidentContext) -> Result<Plan> {
        if !self.matches(hypothesis.class, hypothesis.target.kind) {
            return Err(Error::Mismatch {
                playbook: self.id.clone(),
                class: hypothesis.class.to_string(),
                kind: hypothesis.target.kind.to_string(),
            });
        }
        let mut r = Renderer { playbook: self, hypothesis, incident, context, params: BTreeMap::new() };
        r.resolve_parameters()?;
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let path = format!("steps[{i}]");
                let object = r.object("action", step.action.name, &step.fields, &path)?;
                serde_json::from_value::<ActionSpec>(Value::Object(object)).map_err(|e| r.error(&path, e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let checks = self
            .verify
            .checks
            .iter()
            .enumerate()
            .map(|(i, check)| {
                let path = format!("verify.checks[{i}]");
                let fields: Vec<_> = check.fields.iter().map(|(f, t)| (*f, FieldTemplate::Scalar(t.clone()))).collect();
                let object = r.object("check", check.check.name, &fields, &path)?;
                serde_json::from_value::<VerifyCheck>(Value::Object(object)).map_err(|e| r.error(&path, e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let id = plan_id(incident, self, &steps);
        Ok(Plan {
            id,
            incident,
            class: hypothesis.class,
            target: hypothesis.target.clone(),
            playbook: self.id.clone(),
            playbook_version: self.version.clone(),
            steps,
            verify: VerifySpec {
                checks,
                timeout_secs: whole_seconds(self.verify.timeout),
                stable_secs: whole_seconds(self.verify.stable),
            },
            rollback_on_failure: self.rollback == RollbackMode::Automatic,
            risk: self.risk,
            requires_approval: self.approval.required(self.risk),
            rationale: format!(
                "{} at {} ({} confidence {:.2}): {}",
                hypothesis.class,
                hypothesis.target,
                hypothesis.specialist,
                hypothesis.confidence,
                self.description.trim()
            ),
        })
    }
}

fn plan_id(incident: IncidentUid, playbook: &Playbook, steps: &[ActionSpec]) -> PlanId {
    let mut hash = Sha256::new();
    hash.update(incident.as_uuid().as_bytes());
    hash.update(playbook.id.as_bytes());
    hash.update([0]);
    hash.update(playbook.version.as_bytes());
    hash.update([0]);
    hash.update(serde_json::to_vec(steps).unwrap_or_default());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    PlanId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

struct Renderer<'a> {
    playbook: &'a Playbook,
    hypothesis: &'a Hypothesis,
    incident: IncidentUid,
    context: &'a IncidentContext,
    /// Every declared parameter: its value, or `None` when it is optional and unset.
    params: BTreeMap<&'a str, Option<String>>,
}

impl<'a> Renderer<'a> {
    fn error(&self, field: &str, problem: impl Into<String>) -> Error {
        Error::Render { playbook: self.playbook.id.clone(), field: field.to_string(), problem: problem.into() }
    }

    fn resolve_parameters(&mut self) -> Result<()> {
        for (name, decl) in &self.playbook.parameters {
            let path = format!("parameters.{name}");
            let value = match self.hypothesis.params.get(name) {
                Some(v) => Some(v.trim().to_string()),
                None => match &decl.default {
                    Some(t) => Some(self.text(t, &format!("{path}.default"))?),
                    None => None,
                },
            };
            match &value {
                Some(v) => decl.kind.check(v).map_err(|e| self.error(&path, e))?,
                None if decl.required => {
                    return Err(
                        self.error(&path, "required, but the hypothesis gives no value and there is no default")
                    );
                }
                None => {}
            }
            self.params.insert(name.as_str(), value);
        }
        Ok(())
    }

    fn text(&self, t: &Template, path: &str) -> Result<String> {
        let mut out = String::new();
        for segment in &t.segments {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Ref(r) => match self.scalar(r, path)? {
                    Some(v) => out.push_str(&v),
                    None => return Err(self.error(path, format!("{r} has no value"))),
                },
            }
        }
        Ok(out)
    }

    /// The value of a scalar reference; `None` for an optional parameter that is unset.
    fn scalar(&self, r: &Reference, path: &str) -> Result<Option<String>> {
        let target = &self.hypothesis.target;
        Ok(Some(match r {
            Reference::TargetKind => target.kind.to_string(),
            Reference::TargetName => target.name.clone(),
            Reference::TargetNamespace => match target.namespace() {
                Some(ns) => ns.to_string(),
                None => return Err(self.error(path, format!("the target {target} has no namespace"))),
            },
            Reference::Param(p) => return Ok(self.params.get(p.as_str()).cloned().flatten()),
            Reference::IncidentUid => self.incident.to_string(),
            Reference::IncidentShort => self.incident.short(),
            Reference::Context(c) => self.context_value(*c).map_err(|e| self.error(path, e))?,
        }))
    }

    fn context_value(&self, value: ContextValue) -> Result<String, String> {
        let target = &self.hypothesis.target;
        match value {
            ContextValue::UnhealthyPod => {
                if target.kind == ObjectKind::Pod {
                    return Ok(target.name.clone());
                }
                unhealthy_pod(self.context, target)
                    .map(|p| p.name.clone())
                    .ok_or_else(|| format!("no failing pod of {target} in the incident's context"))
            }
            ContextValue::Container => container(self.context, target)
                .ok_or_else(|| format!("no container of {target} in the incident's context")),
            ContextValue::Node => {
                if target.kind == ObjectKind::Node {
                    return Ok(target.name.clone());
                }
                let pod = if target.kind == ObjectKind::Pod {
                    self.context
                        .pods
                        .iter()
                        .find(|p| p.name == target.name && Some(p.namespace.as_str()) == target.namespace())
                } else {
                    unhealthy_pod(self.context, target)
                };
                pod.and_then(|p| p.node.clone())
                    .ok_or_else(|| format!("no node for {target} in the incident's context"))
            }
            ContextValue::PreviousRevision => previous_revision(self.context, target)
                .map(|r| r.to_string())
                .ok_or_else(|| format!("no revision before the current one of {target} in the incident's context")),
            ContextValue::Selector => Err("context.selector is a map and cannot be used as a single value".into()),
        }
    }

    fn map_value(&self, r: &Reference, path: &str) -> Result<BTreeMap<String, String>> {
        let target = &self.hypothesis.target;
        let found = match r {
            Reference::Context(ContextValue::Selector) => match target.kind {
                ObjectKind::Pod => self
                    .context
                    .pods
                    .iter()
                    .find(|p| p.name == target.name && Some(p.namespace.as_str()) == target.namespace())
                    .map(|p| p.labels.clone()),
                _ => self.context.workload(target).map(|w| w.selector.clone()),
            },
            _ => None,
        };
        match found {
            Some(map) if !map.is_empty() => Ok(map),
            _ => Err(self.error(path, format!("no selector for {target} in the incident's context"))),
        }
    }

    /// The JSON object of one step or check: `{tag: name, field: value, ...}` with typed values.
    fn object(
        &self,
        tag: &str,
        name: &str,
        fields: &[(&'static FieldSchema, FieldTemplate)],
        path: &str,
    ) -> Result<Map<String, Value>> {
        let mut object = Map::new();
        object.insert(tag.to_string(), Value::String(name.to_string()));
        for (field, template) in fields {
            let field_path = format!("{path}.{}", field.name);
            let value = match template {
                FieldTemplate::Scalar(t) => {
                    let text = match t.sole_reference() {
                        Some(r) => match self.scalar(r, &field_path)? {
                            Some(v) => v,
                            None if !field.required => continue,
                            None => return Err(self.error(&field_path, format!("{r} has no value"))),
                        },
                        None => self.text(t, &field_path)?,
                    };
                    typed(&text, field.kind).map_err(|e| self.error(&field_path, e))?
                }
                FieldTemplate::Map(entries) => {
                    let mut map = Map::new();
                    for (key, t) in entries {
                        let entry_path = format!("{field_path}.{key}");
                        let text = self.text(t, &entry_path)?;
                        if field.kind == FieldKind::Quantities && !is_quantity(&text) {
                            return Err(self.error(&entry_path, format!("{text:?} is not a quantity")));
                        }
                        map.insert(key.clone(), Value::String(text));
                    }
                    Value::Object(map)
                }
                FieldTemplate::MapRef(r) => {
                    let map = self.map_value(r, &field_path)?;
                    Value::Object(map.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
                }
            };
            object.insert(field.name.to_string(), value);
        }
        Ok(object)
    }
}

fn typed(text: &str, kind: FieldKind) -> Result<Value, String> {
    match kind {
        FieldKind::Integer => {
            ParamType::Integer.check(text)?;
            Ok(Value::from(text.parse::<i64>().map_err(|e| e.to_string())?))
        }
        FieldKind::Boolean => {
            ParamType::Boolean.check(text)?;
            Ok(Value::Bool(text == "true"))
        }
        _ if text.is_empty() => Err("renders to an empty value".into()),
        _ => Ok(Value::String(text.to_string())),
    }
}

fn is_failing(pod: &PodSnapshot) -> bool {
    pod.phase == "Failed"
        || pod.containers.iter().any(|c| {
            c.state.reason().is_some_and(|r| FAILING_REASONS.contains(&r))
                || c.last_state.as_ref().and_then(|s| s.reason()).is_some_and(|r| FAILING_REASONS.contains(&r))
        })
}

/// The target workload's pod in the worst state: failing first, then not ready, then most restarts.
/// A workload whose pods are all ready without restarts has no unhealthy pod.
pub(crate) fn unhealthy_pod<'c>(
    context: &'c IncidentContext,
    target: &'c medic_core::ObjectRef,
) -> Option<&'c PodSnapshot> {
    context.pods_of(target).filter(|p| !p.deleting).filter(|p| is_failing(p) || !p.ready || p.restarts() > 0).max_by(
        |a, b| {
            (is_failing(a), !a.ready, a.restarts())
                .cmp(&(is_failing(b), !b.ready, b.restarts()))
                .then_with(|| b.name.cmp(&a.name))
        },
    )
}

fn container(context: &IncidentContext, target: &medic_core::ObjectRef) -> Option<String> {
    let pods: Vec<&PodSnapshot> = if target.kind == ObjectKind::Pod {
        context
            .pods
            .iter()
            .filter(|p| p.name == target.name && Some(p.namespace.as_str()) == target.namespace())
            .collect()
    } else {
        context.pods_of(target).collect()
    };
    // The container that restarted most across the pods; ties go to the workload's spec order.
    let mut restarts: BTreeMap<&str, i32> = BTreeMap::new();
    for pod in &pods {
        for c in &pod.containers {
            *restarts.entry(c.name.as_str()).or_default() += c.restart_count;
        }
    }
    let spec_order: Vec<&str> =
        context.workload(target).map(|w| w.containers.iter().map(|c| c.name.as_str()).collect()).unwrap_or_else(|| {
            pods.first().map(|p| p.containers.iter().map(|c| c.name.as_str()).collect()).unwrap_or_default()
        });
    let best = restarts.iter().filter(|(_, n)| **n > 0).max_by_key(|(_, n)| **n).map(|(c, _)| *c);
    best.or_else(|| spec_order.first().copied()).or_else(|| restarts.keys().next().copied()).map(str::to_string)
}

fn previous_revision(context: &IncidentContext, target: &medic_core::ObjectRef) -> Option<i64> {
    let current = context
        .workload(target)
        .and_then(|w| w.revision)
        .or_else(|| context.rollouts.iter().filter(|r| &r.deployment == target).map(|r| r.revision).max())?;
    context.rollouts.iter().filter(|r| &r.deployment == target && r.revision < current).map(|r| r.revision).max()
}
