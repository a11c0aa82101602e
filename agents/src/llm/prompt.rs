//! Prompts are files in the repository (`agents/prompts/*.md`), versioned in their front matter and
//! identified by the SHA-256 of the file, which every model-assisted decision records. The built-in ones
//! are compiled in; `[llm] prompts_dir` may replace them.
//!
//! ```text
//! ---
//! id: specialist
//! version: 1
//! ---
//! You are the {{specialist}} specialist of medic ...
//! ```
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::error::{Error, Result};

const SPECIALIST: &str = include_str!("../../prompts/specialist.md");
const ADJUDICATE: &str = include_str!("../../prompts/adjudicate.md");

/// Which prompt a file is, what version, and its hash: recorded with everything the prompt produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptRef {
    pub id: String,
    pub version: u32,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
}

impl std::fmt::Display for PromptRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{} sha256:{}", self.id, self.version, self.sha256)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub reference: PromptRef,
    body: String,
}

impl Prompt {
    /// Parses a prompt file: front matter with `id` and `version`, then the text.
    pub fn parse(file: &str, text: &str) -> Result<Prompt> {
        let bad = |problem: &str| Error::Prompt { file: file.to_string(), problem: problem.to_string() };
        let rest = text.strip_prefix("---\n").ok_or_else(|| bad("line 1: expected front matter starting with ---"))?;
        let end = rest.find("\n---\n").ok_or_else(|| bad("the front matter has no closing ---"))?;
        let (mut id, mut version) = (None, None);
        for (n, line) in rest[..end].lines().enumerate() {
            let Some((key, value)) = line.split_once(':') else {
                return Err(bad(&format!("line {}: expected `key: value`", n + 2)));
            };
            match key.trim() {
                "id" => id = Some(value.trim().to_string()),
                "version" => {
                    let v = value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| bad(&format!("line {}: version must be a whole number", n + 2)))?;
                    version = Some(v);
                }
                other => return Err(bad(&format!("line {}: unknown field {other}", n + 2))),
            }
        }
        let id = id.filter(|i| !i.is_empty()).ok_or_else(|| bad("the front matter has no id"))?;
        let version = version.ok_or_else(|| bad("the front matter has no version"))?;
        let body = rest[end + 5..].trim().to_string();
        if body.is_empty() {
            return Err(bad("the prompt is empty"));
        }
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Prompt { reference: PromptRef { id, version, sha256 }, body })
    }

    /// The text with each `{{name}}` replaced by its value.
    pub fn render(&self, vars: &[(&str, &str)]) -> String {
        let mut out = self.body.clone();
        for (name, value) in vars {
            out = out.replace(&format!("{{{{{name}}}}}"), value);
        }
        out
    }
}

/// The prompts medic uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompts {
    pub specialist: Prompt,
    pub adjudicate: Prompt,
}

impl Prompts {
    pub fn builtin() -> Prompts {
        Prompts {
            specialist: Prompt::parse("agents/prompts/specialist.md", SPECIALIST).expect("the built-in prompt parses"),
            adjudicate: Prompt::parse("agents/prompts/adjudicate.md", ADJUDICATE).expect("the built-in prompt parses"),
        }
    }

    /// The prompts of a folder (`specialist.md`, `adjudicate.md`); a file that is missing keeps the built-in one.
    pub fn load_dir(dir: &Path) -> Result<Prompts> {
        let mut prompts = Prompts::builtin();
        for (name, slot) in [("specialist.md", &mut prompts.specialist), ("adjudicate.md", &mut prompts.adjudicate)] {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            let file = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Prompt { file: file.clone(), problem: e.to_string() })?;
            *slot = Prompt::parse(&file, &text)?;
        }
        Ok(prompts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_prompts_parse_with_their_hash() {
        let prompts = Prompts::builtin();
        assert_eq!(prompts.specialist.reference.id, "specialist");
        assert_eq!(prompts.adjudicate.reference.id, "adjudicate");
        assert_eq!(prompts.specialist.reference.sha256, hex::encode(Sha256::digest(SPECIALIST.as_bytes())));
        assert_eq!(prompts.specialist.reference.sha256.len(), 64);
        let text = prompts.specialist.render(&[("specialist", "Compute"), ("classes", "oom-memory-limit")]);
        assert!(text.contains("You are the Compute specialist") && text.contains("one of: oom-memory-limit"));
        assert!(prompts.specialist.reference.to_string().starts_with("specialist@1 sha256:"));
    }

    #[test]
    fn broken_prompt_files_are_named() {
        for (text, problem) in [
            ("no front matter", "line 1"),
            ("---\nid: x\nversion: 1\n", "no closing"),
            ("---\nid: x\n---\nbody\n", "no version"),
            ("---\nid: x\nversion: one\n---\nbody\n", "line 3: version"),
            ("---\nid: x\nversion: 1\ncolour: red\n---\nbody\n", "unknown field colour"),
            ("---\nid: x\nversion: 1\n---\n\n", "empty"),
        ] {
            let error = Prompt::parse("prompts/x.md", text).unwrap_err().to_string();
            assert!(error.contains("prompts/x.md") && error.contains(problem), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_folder_replaces_the_prompts_it_has() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("adjudicate.md"), "---\nid: adjudicate\nversion: 2\n---\nDecide.\n").unwrap();
        let prompts = Prompts::load_dir(dir.path()).unwrap();
        assert_eq!(prompts.adjudicate.reference.version, 2);
        assert_eq!(prompts.specialist, Prompts::builtin().specialist);
    }
}
