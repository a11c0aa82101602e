//! What a model is asked to answer: a JSON schema (Ollama's structured outputs) that names the taxonomy,
//! the objects of the context and the catalog's playbooks, and the lenient reading of what comes back —
//! lenient in form, because everything in it is validated before it is used.
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A model's answer: its hypotheses, best first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelAnswer {
    #[serde(default)]
    pub hypotheses: Vec<ModelHypothesis>,
}

/// One hypothesis as the model wrote it (not yet checked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelHypothesis {
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub target: String,
    #[serde(default, deserialize_with = "number_or_text")]
    pub confidence: f64,
    #[serde(default, deserialize_with = "list_or_text")]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub playbook: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub explanation: String,
}

fn number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s
            .trim()
            .trim_end_matches('%')
            .parse::<f64>()
            .map_or(f64::NAN, |x| if s.contains('%') { x / 100.0 } else { x }),
        _ => f64::NAN,
    })
}

fn list_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => vec![s],
        Value::Array(items) => items.into_iter().map(text_of).collect(),
        Value::Null => Vec::new(),
        other => vec![text_of(other)],
    })
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, text_of(v))).collect(),
        _ => BTreeMap::new(),
    })
}

fn text_of(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

impl ModelAnswer {
    /// Reads a model's message content. Models sometimes wrap JSON in a Markdown fence or prose; the first
    /// JSON object in the text is taken.
    pub fn parse(content: &str) -> Result<ModelAnswer, String> {
        let trimmed = content.trim();
        if let Ok(answer) = serde_json::from_str::<ModelAnswer>(trimmed) {
            return Ok(answer);
        }
        let start = trimmed.find('{').ok_or_else(|| "the answer holds no JSON object".to_string())?;
        let mut stream = serde_json::Deserializer::from_str(&trimmed[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                serde_json::from_value(value).map_err(|e| format!("the answer is not in the asked shape: {e}"))
            }
            Some(Err(e)) => Err(format!("the answer is not valid JSON: {e}")),
            None => Err("the answer holds no JSON object".into()),
        }
    }
}

/// The JSON schema of an answer. Enumerating classes, objects and playbooks lets Ollama's constrained
/// decoding keep a model inside them; the answer is checked against the same lists all the same.
pub fn schema(classes: &[&str], targets: &[String], playbooks: &[String], max_hypotheses: usize) -> Value {
    let mut playbook_enum: Vec<Value> = playbooks.iter().map(|p| json!(p)).collect();
    playbook_enum.push(Value::Null);
    let target =
        if targets.is_empty() { json!({"type": "string"}) } else { json!({"type": "string", "enum": targets}) };
    json!({
        "type": "object",
        "properties": {
            "hypotheses": {
                "type": "array",
                "maxItems": max_hypotheses,
                "items": {
                    "type": "object",
                    "properties": {
                        "class": {"type": "string", "enum": classes},
                        "target": target,
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "evidence": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "playbook": {"type": ["string", "null"], "enum": playbook_enum},
                        "params": {"type": "object", "additionalProperties": {"type": "string"}},
                        "explanation": {"type": "string"}
                    },
                    "required": ["class", "target", "confidence", "evidence", "playbook", "explanation"]
                }
            }
        },
        "required": ["hypotheses"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_leniently() {
        let fenced = "Here you go:\n```json\n{\"hypotheses\": [{\"class\": \"oom-memory-limit\", \"target\": \"Deployment/shop/cart\", \"confidence\": \"85%\", \"evidence\": \"OOMKilled\", \"params\": {\"memory_limit\": \"512Mi\", \"replicas\": 3, \"x\": null}}]}\n```";
        let answer = ModelAnswer::parse(fenced).unwrap();
        let h = &answer.hypotheses[0];
        assert_eq!((h.class.as_str(), h.target.as_str()), ("oom-memory-limit", "Deployment/shop/cart"));
        assert!((h.confidence - 0.85).abs() < 1e-9);
        assert_eq!(h.evidence, ["OOMKilled"]);
        assert_eq!(h.params.get("replicas").map(String::as_str), Some("3"));
        assert!(!h.params.contains_key("x"));
        assert!(ModelAnswer::parse("{\"hypotheses\": []}").unwrap().hypotheses.is_empty());
        for broken in ["", "I think it is the cart.", "{\"hypotheses\": [", "{\"hypotheses\": 3}"] {
            assert!(ModelAnswer::parse(broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn the_schema_names_the_allowed_values() {
        let s = schema(
            &["oom-memory-limit", "no-fault"],
            &["Deployment/shop/cart".into()],
            &["oom-memory-limit".into()],
            3,
        );
        let item = &s["properties"]["hypotheses"]["items"]["properties"];
        assert_eq!(item["class"]["enum"], json!(["oom-memory-limit", "no-fault"]));
        assert_eq!(item["target"]["enum"], json!(["Deployment/shop/cart"]));
        assert_eq!(item["playbook"]["enum"], json!(["oom-memory-limit", null]));
        assert_eq!(s["properties"]["hypotheses"]["maxItems"], json!(3));
    }
}
