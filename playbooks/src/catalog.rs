//! The catalog: every playbook by id. The built-in one is embedded in the binary; a folder of YAML files
//! can replace or extend it.
use medic_core::{Hypothesis, IncidentContext, IncidentUid, ObjectKind, Plan, RootCauseClass};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::load::parse_playbook;
use crate::schema::Playbook;

/// The built-in playbooks: (file name, YAML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("bad-rollout.yaml", include_str!("../catalog/bad-rollout.yaml")),
    ("config-error.yaml", include_str!("../catalog/config-error.yaml")),
    ("cpu-saturation.yaml", include_str!("../catalog/cpu-saturation.yaml")),
    ("crash-transient.yaml", include_str!("../catalog/crash-transient.yaml")),
    ("db-connection-exhaustion.yaml", include_str!("../catalog/db-connection-exhaustion.yaml")),
    ("dependency-down.yaml", include_str!("../catalog/dependency-down.yaml")),
    ("image-pull.yaml", include_str!("../catalog/image-pull.yaml")),
    ("memory-leak.yaml", include_str!("../catalog/memory-leak.yaml")),
    ("network-degraded.yaml", include_str!("../catalog/network-degraded.yaml")),
    ("no-fault.yaml", include_str!("../catalog/no-fault.yaml")),
    ("node-not-ready.yaml", include_str!("../catalog/node-not-ready.yaml")),
    ("oom-memory-limit.yaml", include_str!("../catalog/oom-memory-limit.yaml")),
    ("suspicious-egress.yaml", include_str!("../catalog/suspicious-egress.yaml")),
];

/// Playbooks by id. Cheap to clone (the playbooks are shared).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    playbooks: BTreeMap<String, Arc<Playbook>>,
}

impl Catalog {
    /// The playbooks embedded in medic.
    pub fn builtin() -> Result<Self> {
        let mut catalog = Catalog::default();
        for (name, text) in BUILTIN {
            catalog.insert_new(parse_playbook(&format!("builtin:catalog/{name}"), text)?)?;
        }
        Ok(catalog)
    }

    /// Every `*.yaml`/`*.yml` file of `dir` (not recursive), each validated; ids must be unique.
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let mut catalog = Catalog::default();
        for playbook in read_dir(dir)? {
            catalog.insert_new(playbook)?;
        }
        Ok(catalog)
    }

    /// The built-in catalog with the playbooks of `dir` replacing those of the same id and adding new ones.
    pub fn builtin_with_overrides(dir: &Path) -> Result<Self> {
        let mut catalog = Self::builtin()?;
        let overrides = Self::load_dir(dir)?;
        catalog.playbooks.extend(overrides.playbooks);
        Ok(catalog)
    }

    /// Parse one playbook from text (`file` names it in errors) and add it, replacing one of the same id.
    pub fn insert_text(&mut self, file: &str, text: &str) -> Result<()> {
        let playbook = parse_playbook(file, text)?;
        self.playbooks.insert(playbook.id.clone(), Arc::new(playbook));
        Ok(())
    }

    fn insert_new(&mut self, playbook: Playbook) -> Result<()> {
        if let Some(existing) = self.playbooks.get(&playbook.id) {
            return Err(Error::Duplicate {
                id: playbook.id.clone(),
                first: existing.source.clone(),
                second: playbook.source.clone(),
            });
        }
        self.playbooks.insert(playbook.id.clone(), Arc::new(playbook));
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Playbook>> {
        self.playbooks.get(id)
    }

    pub fn len(&self) -> usize {
        self.playbooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.playbooks.is_empty()
    }

    /// All playbooks, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Playbook>> {
        self.playbooks.values()
    }

    /// Playbooks that remedy `class` on a target of `kind`, by id.
    pub fn matching(&self, class: RootCauseClass, kind: ObjectKind) -> impl Iterator<Item = &Arc<Playbook>> {
        self.playbooks.values().filter(move |p| p.matches(class, kind))
    }

    /// The playbook for a hypothesis: the one it proposes (which must match its class and target kind),
    /// or else the first that matches.
    pub fn for_hypothesis(&self, hypothesis: &Hypothesis) -> Result<&Arc<Playbook>> {
        let (class, kind) = (hypothesis.class, hypothesis.target.kind);
        match &hypothesis.playbook {
            Some(id) => {
                let playbook = self.get(id).ok_or_else(|| Error::UnknownPlaybook(id.clone()))?;
                if !playbook.matches(class, kind) {
                    return Err(Error::Mismatch {
                        playbook: id.clone(),
                        class: class.to_string(),
                        kind: kind.to_string(),
                    });
                }
                Ok(playbook)
            }
            None => self
                .matching(class, kind)
                .next()
                .ok_or_else(|| Error::NoPlaybookFor { class: class.to_string(), kind: kind.to_string() }),
        }
    }

    /// Render the plan for a hypothesis with the playbook `for_hypothesis` picks.
    pub fn plan(&self, hypothesis: &Hypothesis, incident: IncidentUid, context: &IncidentContext) -> Result<Plan> {
        self.for_hypothesis(hypothesis)?.plan(hypothesis, incident, context)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<Playbook>> {
    let io = |source| Error::Io { path: dir.to_path_buf(), source };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    paths.retain(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")));
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.clone(), source })?;
            parse_playbook(&path.display().to_string(), &text)
        })
        .collect()
}
