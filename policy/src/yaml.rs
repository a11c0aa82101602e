//! Loading Kubernetes YAML (multi-document) into JSON values the way Kyverno's loader sees them: map keys
//! become strings and integral numbers become integers (sigs.k8s.io/yaml converts through JSON).
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One non-empty document of a YAML stream, with its 1-based position in the file.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    pub index: usize,
    pub value: Value,
}

/// Parses every non-empty document of `text`; `path` only names the source in errors.
pub fn parse_documents(text: &str, path: &Path) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let yaml = serde_yaml_ng::Value::deserialize(de).map_err(|e| Error::Yaml {
            path: path.to_path_buf(),
            document: index,
            message: e.to_string(),
        })?;
        let value = to_json(yaml);
        if !value.is_null() {
            out.push(Document { path: path.to_path_buf(), index, value });
        }
    }
    Ok(out)
}

/// Reads and parses a YAML file.
pub fn load_file(path: &Path) -> Result<Vec<Document>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse_documents(&text, path)
}

/// Parses one YAML (or JSON) value, e.g. an annotation holding YAML, without file context.
pub fn parse_value(text: &str) -> std::result::Result<Value, String> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    Ok(to_json(yaml))
}

fn key_string(key: serde_yaml_ng::Value) -> String {
    match to_json(key) {
        Value::String(s) => s,
        Value::Null => "null".to_string(),
        other => crate::gofmt::sprint(&other),
    }
}

/// Converts a YAML value to JSON, normalising numbers as a YAML→JSON→unstructured round trip would.
pub fn to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if !f.is_finite() { Value::String(n.to_string()) } else { crate::gofmt::number_value(f) }
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(key_string(k), to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_documents_with_positions_and_normalised_numbers() {
        let docs = parse_documents("a: 1.0\nb: 1.5\n---\n---\nc: {1: x}\n", Path::new("x.yaml")).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["a"], serde_json::json!(1));
        assert!(docs[0].value["a"].is_i64());
        assert_eq!(docs[0].value["b"], serde_json::json!(1.5));
        assert_eq!(docs[1].index, 3);
        assert_eq!(docs[1].value["c"]["1"], "x");
    }

    #[test]
    fn reports_the_document_of_a_syntax_error() {
        let err = parse_documents("a: 1\n---\nb: [\n", Path::new("bad.yaml")).unwrap_err();
        match err {
            Error::Yaml { document, .. } => assert_eq!(document, 2),
            other => panic!("unexpected {other}"),
        }
    }
}
