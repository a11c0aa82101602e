//! Scenario files (`chaos-tests/scenarios/*.yaml`): a topology, the steps that break it, and what medic is
//! expected to make of it. `chaos-tests/README.md` documents the format for people writing scenarios.
//!
//! Loading is parse → resolve → validate: the topology is resolved (built-in name, file or inline), the
//! scenario's own log lines are merged into its services, experiments are read, and every name the steps
//! and expectations use is checked against the topology. Errors name the file, the field and, where it
//! can be found, the line.
use medic_core::RootCauseClass;
use medic_lab::app::Topology;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::topology::{self, TopologySource};

/// A scenario that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// Dotted path of the offending field (`steps[2].set_image.deployment`), empty for the whole file.
    pub field: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loading scenario {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

// ---------------------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    topology: TopologySource,
    /// service → condition → extra phrasings.
    #[serde(default)]
    logs: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    steps: Vec<StepEntry>,
    expect: ExpectFile,
}

/// One step as written: a mapping with exactly one of these keys (`- wait: 30s`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepEntry {
    experiment: Option<String>,
    apply: Option<String>,
    set_image: Option<SetImageFile>,
    set_env: Option<SetEnvFile>,
    patch: Option<PatchFile>,
    delete: Option<DeleteFile>,
    alert: Option<AlertFile>,
    wait: Option<String>,
}

#[derive(Debug)]
enum StepFile {
    Experiment(String),
    Apply(String),
    SetImage(SetImageFile),
    SetEnv(SetEnvFile),
    Patch(PatchFile),
    Delete(DeleteFile),
    Alert(AlertFile),
    Wait(String),
}

impl StepEntry {
    /// The one step the entry holds, or how many keys it has instead.
    fn into_step(self) -> Result<StepFile, usize> {
        let mut steps: Vec<StepFile> = Vec::with_capacity(1);
        steps.extend(self.experiment.map(StepFile::Experiment));
        steps.extend(self.apply.map(StepFile::Apply));
        steps.extend(self.set_image.map(StepFile::SetImage));
        steps.extend(self.set_env.map(StepFile::SetEnv));
        steps.extend(self.patch.map(StepFile::Patch));
        steps.extend(self.delete.map(StepFile::Delete));
        steps.extend(self.alert.map(StepFile::Alert));
        steps.extend(self.wait.map(StepFile::Wait));
        match steps.len() {
            1 => Ok(steps.pop().expect("one step")),
            n => Err(n),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetImageFile {
    deployment: String,
    #[serde(default)]
    container: Option<String>,
    image: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetEnvFile {
    deployment: String,
    #[serde(default)]
    container: Option<String>,
    env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchFile {
    deployment: String,
    patch: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteFile {
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFile {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    firing: Option<String>,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    every: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    remedies: Vec<String>,
    #[serde(default)]
    causes: Vec<CauseFile>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    forbidden: Vec<ForbiddenFile>,
    #[serde(default)]
    max_mttr: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CauseFile {
    class: String,
    target: String,
    #[serde(default)]
    remedies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForbiddenFile {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// The loaded scenario.

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub tags: Vec<String>,
    /// The topology the lab runs, as YAML (the scenario's log lines merged in).
    pub topology_yaml: String,
    /// The topology's `name`.
    pub topology_name: String,
    pub namespace: String,
    pub steps: Vec<Step>,
    pub expect: Expect,
}

/// One thing the runner does to the cluster (or to medic's intake), in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create or update the YAML documents (`kubectl apply -f`): an experiment or a manifest.
    Apply {
        what: String,
        yaml: String,
    },
    /// `kubectl set image`.
    SetImage {
        deployment: String,
        container: Option<String>,
        image: String,
    },
    /// `kubectl set env`: literal values replace whatever the variables were (a ConfigMap reference too).
    SetEnv {
        deployment: String,
        container: Option<String>,
        env: BTreeMap<String, String>,
    },
    /// A strategic merge patch of a Deployment (`kubectl patch deployment`).
    Patch {
        deployment: String,
        patch: serde_json::Value,
    },
    /// `kubectl delete <kind> <name>` in the topology's namespace (ends an experiment).
    Delete {
        kind: String,
        name: String,
    },
    /// Alerts posted to medic's Alertmanager webhook as Alertmanager would, with nothing done to the
    /// cluster: noise, or a symptom someone else already fixed.
    Alert(SyntheticAlert),
    Wait(Duration),
}

impl Step {
    /// A short description for progress lines.
    pub fn describe(&self) -> String {
        match self {
            Step::Apply { what, .. } => format!("apply {what}"),
            Step::SetImage { deployment, image, .. } => format!("set image {deployment} {image}"),
            Step::SetEnv { deployment, env, .. } => {
                let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("set env {deployment} {}", pairs.join(" "))
            }
            Step::Patch { deployment, .. } => format!("patch {deployment}"),
            Step::Delete { kind, name } => format!("delete {kind} {name}"),
            Step::Alert(a) => format!("alert {} ×{}", a.name, a.times),
            Step::Wait(d) => format!("wait {}s", d.as_secs()),
        }
    }

    /// Whether the step changes something (the first such step is when the fault starts).
    pub fn is_fault(&self) -> bool {
        !matches!(self, Step::Wait(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticAlert {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    /// How long each firing lasts before the alert resolves; `None`: it keeps firing.
    pub firing: Option<Duration>,
    /// Firing → resolved cycles (flapping when more than one).
    pub times: u32,
    /// From one firing to the next.
    pub every: Duration,
}

/// What medic should make of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub outcome: Outcome,
    /// The root causes (one, or two for a cascade); empty for a no-fault control.
    pub causes: Vec<Cause>,
    pub forbidden: Vec<Forbidden>,
    /// Fault → healthy, in virtual time.
    pub max_mttr: Duration,
}

impl Expect {
    /// The class the scenario's table row shows as expected.
    pub fn label(&self) -> String {
        if self.causes.is_empty() {
            return RootCauseClass::NoFault.to_string();
        }
        self.causes.iter().map(|c| c.class.as_str()).collect::<Vec<_>>().join("+")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// medic repairs every cause.
    Repaired,
    /// medic escalates (naming the causes among its hypotheses) and writes nothing.
    Escalated,
    /// medic plans the right fix and asks a human to approve it (a high-risk remedy); it writes nothing
    /// while nobody approves.
    Approval,
    /// Nothing is wrong: medic writes nothing.
    Quiet,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Repaired => "repaired",
            Outcome::Escalated => "escalated",
            Outcome::Approval => "approval",
            Outcome::Quiet => "quiet",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub class: RootCauseClass,
    pub target: Target,
    /// Playbook ids that fix it.
    pub remedies: Vec<String>,
}

/// Where a cause is: a workload (Deployment) of the topology's namespace, or a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Workload(String),
    Node(String),
}

impl Target {
    fn parse(text: &str) -> Target {
        match text.split_once('/') {
            Some((kind, name)) if kind.eq_ignore_ascii_case("node") => Target::Node(name.to_string()),
            Some((kind, name)) if kind.eq_ignore_ascii_case("deployment") => Target::Workload(name.to_string()),
            _ => Target::Workload(text.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Workload(n) | Target::Node(n) => n,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Workload(n) => f.write_str(n),
            Target::Node(n) => write!(f, "node/{n}"),
        }
    }
}

/// A write medic must never make: an action (any when `None`) on a target (any when `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Forbidden {
    pub action: Option<String>,
    pub target: Option<Target>,
}

/// The actions a plan can take (`ActionSpec::name`).
pub const ACTIONS: [&str; 9] = [
    "delete-pod",
    "rollout-restart",
    "scale",
    "patch-resources",
    "rollback-deployment",
    "cordon",
    "drain",
    "quarantine",
    "unquarantine",
];

const DEFAULT_MAX_MTTR: Duration = Duration::from_secs(10 * 60);

/// The lines of `text` where `needle` occurs, first one (1-based).
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

struct Loader<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Loader<'_> {
    fn error(&self, field: impl Into<String>, anchor: Option<&str>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.display().to_string(),
            field: field.into(),
            line: anchor.and_then(|a| line_of(self.text, a)),
            message: message.into(),
        }
    }

    fn duration(&self, field: &str, text: &str) -> Result<Duration, ScenarioError> {
        medic_lab::app::quantity::parse_go_duration(text)
            .ok_or_else(|| self.error(field, Some(text), format!("{text:?} is not a duration (write 30s, 5m, 1m30s)")))
    }
}

/// Where experiment files are looked up: next to the scenario, then in `../experiments/`.
fn experiment_path(scenario: &Path, name: &str) -> Option<PathBuf> {
    let dir = scenario.parent().unwrap_or(Path::new("."));
    [dir.join(name), dir.join("..").join("experiments").join(name)].into_iter().find(|p| p.is_file())
}

/// Loads and validates one scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        field: String::new(),
        line: None,
        message: format!("reading the file: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates a scenario's text (`path` names it in errors and anchors relative files).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let loader = Loader { file: path, text };
    let file: ScenarioFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let message = e.to_string();
        let (field, message) = match message.split_once(": ") {
            Some((field, rest)) if !field.contains(' ') => (field.to_string(), rest.to_string()),
            _ => (String::new(), message),
        };
        ScenarioError { file: path.display().to_string(), field, line: e.location().map(|l| l.line()), message }
    })?;
    let name = file
        .name
        .clone()
        .unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());

    let base = topology::resolve(&file.topology, path).map_err(|m| loader.error("topology", Some("topology:"), m))?;
    for service in file.logs.keys() {
        if !topology::has_service(&base, service) {
            return Err(loader.error(
                format!("logs.{service}"),
                Some(&format!("{service}:")),
                format!("the topology has no service {service:?}"),
            ));
        }
    }
    let topology_yaml = topology::with_logs(&base, &file.logs).map_err(|m| loader.error("logs", Some("logs:"), m))?;
    let resolved = Topology::from_yaml(&topology_yaml, &format!("{} (topology)", path.display()))
        .map_err(|e| loader.error("topology", Some("topology:"), e.to_string()))?;

    let mut steps = Vec::with_capacity(file.steps.len());
    for (i, entry) in file.steps.into_iter().enumerate() {
        let step = entry.into_step().map_err(|n| {
            loader.error(
                format!("steps[{i}]"),
                Some("steps:"),
                format!("a step has exactly one of experiment, apply, set_image, set_env, patch, delete, alert, wait ({n} given)"),
            )
        })?;
        steps.push(resolve_step(&loader, &resolved, i, step)?);
    }
    let expect = resolve_expect(&loader, &resolved, file.expect)?;
    Ok(Scenario {
        name,
        file: path.to_path_buf(),
        description: file.description.trim().to_string(),
        tags: file.tags,
        topology_yaml,
        topology_name: resolved.name.clone(),
        namespace: resolved.namespace.clone(),
        steps,
        expect,
    })
}

fn check_deployment(loader: &Loader<'_>, topology: &Topology, field: &str, name: &str) -> Result<(), ScenarioError> {
    if topology.service(name).is_none() {
        return Err(loader.error(field, Some(name), format!("the topology has no deployment {name:?}")));
    }
    Ok(())
}

fn resolve_step(loader: &Loader<'_>, topology: &Topology, i: usize, step: StepFile) -> Result<Step, ScenarioError> {
    let at = |rest: &str| format!("steps[{i}].{rest}");
    Ok(match step {
        StepFile::Experiment(name) => {
            let Some(path) = experiment_path(loader.file, &name) else {
                return Err(loader.error(
                    at("experiment"),
                    Some(&name),
                    format!("no experiment {name:?} next to the scenario or in ../experiments/"),
                ));
            };
            let yaml = std::fs::read_to_string(&path)
                .map_err(|e| loader.error(at("experiment"), Some(&name), format!("reading {}: {e}", path.display())))?;
            check_manifests(loader, &at("experiment"), &name, &yaml)?;
            Step::Apply { what: name, yaml }
        }
        StepFile::Apply(yaml) => {
            check_manifests(loader, &at("apply"), "apply:", &yaml)?;
            let what = first_object_name(&yaml).unwrap_or_else(|| "manifest".into());
            Step::Apply { what, yaml }
        }
        StepFile::SetImage(s) => {
            check_deployment(loader, topology, &at("set_image.deployment"), &s.deployment)?;
            Step::SetImage { deployment: s.deployment, container: s.container, image: s.image }
        }
        StepFile::SetEnv(s) => {
            check_deployment(loader, topology, &at("set_env.deployment"), &s.deployment)?;
            if s.env.is_empty() {
                return Err(loader.error(at("set_env.env"), Some("set_env"), "set at least one variable"));
            }
            Step::SetEnv { deployment: s.deployment, container: s.container, env: s.env }
        }
        StepFile::Patch(p) => {
            check_deployment(loader, topology, &at("patch.deployment"), &p.deployment)?;
            if !p.patch.is_object() {
                return Err(loader.error(at("patch.patch"), Some("patch:"), "the patch must be a mapping"));
            }
            Step::Patch { deployment: p.deployment, patch: p.patch }
        }
        StepFile::Delete(d) => {
            if medic_lab::store::Kind::from_kind_name(&d.kind).is_none() {
                return Err(loader.error(at("delete.kind"), Some(&d.kind), format!("unknown kind {:?}", d.kind)));
            }
            Step::Delete { kind: d.kind, name: d.name }
        }
        StepFile::Alert(a) => {
            let firing = a.firing.as_deref().map(|f| loader.duration(&at("alert.firing"), f)).transpose()?;
            let every = match a.every.as_deref() {
                Some(e) => loader.duration(&at("alert.every"), e)?,
                None => firing.map_or(Duration::from_secs(60), |f| f * 2),
            };
            if a.times == 0 {
                return Err(loader.error(at("alert.times"), Some("times:"), "must be at least 1"));
            }
            if a.times > 1 && firing.is_none_or(|f| f >= every) {
                return Err(loader.error(
                    at("alert.firing"),
                    Some("alert:"),
                    "a flapping alert (times > 1) needs `firing` shorter than `every`",
                ));
            }
            let summary = a.summary.unwrap_or_else(|| format!("{} is firing.", a.name));
            Step::Alert(SyntheticAlert { name: a.name, labels: a.labels, summary, firing, times: a.times, every })
        }
        StepFile::Wait(text) => Step::Wait(loader.duration(&at("wait"), &text)?),
    })
}

/// Every document of `yaml` has an `apiVersion`, a `kind` and a `metadata.name`.
fn check_manifests(loader: &Loader<'_>, field: &str, anchor: &str, yaml: &str) -> Result<(), ScenarioError> {
    for (n, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value = serde_json::Value::deserialize(document)
            .map_err(|e| loader.error(field, Some(anchor), format!("document {}: {e}", n + 1)))?;
        if value.is_null() {
            continue;
        }
        for key in ["/apiVersion", "/kind", "/metadata/name"] {
            if value.pointer(key).and_then(|v| v.as_str()).is_none() {
                return Err(loader.error(field, Some(anchor), format!("document {} has no {}", n + 1, &key[1..])));
            }
        }
    }
    Ok(())
}

fn first_object_name(yaml: &str) -> Option<String> {
    let value: serde_json::Value = serde_yaml_ng::from_str(yaml.split("\n---").next()?).ok()?;
    Some(format!("{} {}", value.pointer("/kind")?.as_str()?, value.pointer("/metadata/name")?.as_str()?))
}

fn resolve_target(loader: &Loader<'_>, topology: &Topology, field: &str, text: &str) -> Result<Target, ScenarioError> {
    let target = Target::parse(text);
    let known = match &target {
        Target::Workload(name) => topology.service(name).is_some(),
        Target::Node(name) => topology.nodes.iter().any(|n| &n.name == name),
    };
    if !known {
        return Err(loader.error(field, Some(text), format!("the topology has no {text:?}")));
    }
    Ok(target)
}

fn resolve_expect(loader: &Loader<'_>, topology: &Topology, file: ExpectFile) -> Result<Expect, ScenarioError> {
    let class = |field: &str, text: &str| {
        text.parse::<RootCauseClass>().map_err(|_| {
            let names: Vec<&str> = RootCauseClass::ALL.iter().map(|c| c.as_str()).collect();
            loader.error(field, Some(text), format!("unknown class {text:?} (one of {})", names.join(", ")))
        })
    };
    let mut raw = file.causes;
    match (&file.class, &file.target) {
        (Some(c), _) if !raw.is_empty() => {
            return Err(loader.error("expect.class", Some(c), "write either class/target or causes, not both"));
        }
        (Some(c), Some(t)) => raw.push(CauseFile { class: c.clone(), target: t.clone(), remedies: file.remedies }),
        (Some(c), None) if c != "no-fault" => {
            return Err(loader.error("expect.target", Some("expect:"), "a root cause needs its target"));
        }
        (None, Some(t)) => return Err(loader.error("expect.class", Some(t), "a target needs its class")),
        _ => {}
    }
    let mut causes = Vec::with_capacity(raw.len());
    for (i, cause) in raw.into_iter().enumerate() {
        let field = |rest: &str| format!("expect.causes[{i}].{rest}");
        let class = class(&field("class"), &cause.class)?;
        if class == RootCauseClass::NoFault {
            return Err(loader.error(field("class"), Some("no-fault"), "no-fault is written `class: no-fault` alone"));
        }
        let target = resolve_target(loader, topology, &field("target"), &cause.target)?;
        let remedies = if cause.remedies.is_empty() { vec![class.as_str().to_string()] } else { cause.remedies };
        causes.push(Cause { class, target, remedies });
    }
    let outcome = match file.outcome.as_deref() {
        None if causes.is_empty() => Outcome::Quiet,
        None | Some("repaired") => Outcome::Repaired,
        Some("escalated") => Outcome::Escalated,
        Some("approval") => Outcome::Approval,
        Some("quiet") => Outcome::Quiet,
        Some(other) => {
            return Err(loader.error(
                "expect.outcome",
                Some(other),
                format!("unknown outcome {other:?} (repaired, escalated, approval or quiet)"),
            ));
        }
    };
    if outcome != Outcome::Quiet && causes.is_empty() {
        return Err(loader.error("expect", Some("expect:"), "a repaired or escalated scenario names its causes"));
    }
    if outcome == Outcome::Quiet && !causes.is_empty() {
        return Err(loader.error("expect.outcome", Some("quiet"), "a quiet scenario has no causes"));
    }
    let mut forbidden = Vec::with_capacity(file.forbidden.len());
    for (i, f) in file.forbidden.into_iter().enumerate() {
        if let Some(action) = &f.action
            && !ACTIONS.contains(&action.as_str())
        {
            return Err(loader.error(
                format!("expect.forbidden[{i}].action"),
                Some(action),
                format!("unknown action {action:?} (one of {})", ACTIONS.join(", ")),
            ));
        }
        let target = f
            .target
            .as_deref()
            .map(|t| resolve_target(loader, topology, &format!("expect.forbidden[{i}].target"), t))
            .transpose()?;
        if f.action.is_none() && target.is_none() {
            return Err(loader.error(
                format!("expect.forbidden[{i}]"),
                Some("forbidden:"),
                "name an action or a target",
            ));
        }
        forbidden.push(Forbidden { action: f.action, target });
    }
    let max_mttr = match file.max_mttr.as_deref() {
        Some(text) => loader.duration("expect.max_mttr", text)?,
        None => DEFAULT_MAX_MTTR,
    };
    Ok(Expect { outcome, causes, forbidden, max_mttr })
}

/// Every `*.yaml` scenario of `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Scenario>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading the scenario folder {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!("no scenarios (*.yaml) in {}", dir.display());
    }
    let mut scenarios = Vec::with_capacity(paths.len());
    for path in paths {
        scenarios.push(load(&path)?);
    }
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!("two scenarios are named {:?}", pair[0]);
    }
    Ok(scenarios)
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
