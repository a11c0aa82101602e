//! medic's built-in playbooks with shorter verification windows, as a folder for `[playbooks] dir`: at
//! real speed a repair is confirmed after seconds of stability rather than minutes. Only `verify.stable`
//! changes; steps, checks and timeouts are the catalog's own.
use anyhow::{Context, Result};
use medic_playbooks::catalog::BUILTIN;
use medic_promstack::rules::{format_duration, parse_duration};
use serde_yaml_ng::Value;
use std::time::Duration;

/// A temporary folder of the built-in playbooks with `verify.stable` of at most `stable`.
pub fn with_short_verification(stable: Duration) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("medic-playbooks-").tempdir()?;
    for (name, text) in BUILTIN {
        let mut doc: Value = serde_yaml_ng::from_str(text).with_context(|| format!("reading the playbook {name}"))?;
        if let Some(verify) = doc.get_mut("verify").and_then(Value::as_mapping_mut) {
            let longer =
                verify.get("stable").and_then(Value::as_str).and_then(parse_duration).is_some_and(|d| d > stable);
            if longer {
                verify.insert(Value::from("stable"), Value::from(format_duration(stable)));
            }
        }
        std::fs::write(dir.path().join(name), serde_yaml_ng::to_string(&doc)?)
            .with_context(|| format!("writing the playbook {name}"))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_playbooks::Catalog;

    #[test]
    fn the_overrides_load_and_shorten_only_the_stable_window() {
        let dir = with_short_verification(Duration::from_secs(15)).unwrap();
        let short = Catalog::builtin_with_overrides(dir.path()).unwrap();
        let builtin = Catalog::builtin().unwrap();
        assert_eq!(short.len(), builtin.len());
        let oom = |c: &Catalog| c.get("oom-memory-limit").unwrap().verify.clone();
        let (before, after) = (oom(&builtin), oom(&short));
        assert_eq!(before.stable, Duration::from_secs(120));
        assert_eq!(after.stable, Duration::from_secs(15));
        assert_eq!(after.timeout, before.timeout);
        assert_eq!(after.checks, before.checks);
    }
}
