//! The API's OpenAPI 3 document: `medic/openapi.yaml` in the repository, served as YAML and as JSON.
use actix_web::HttpResponse;
use std::sync::OnceLock;

/// The document as kept in the repository.
pub const YAML: &str = include_str!("../../openapi.yaml");

/// The document as JSON (parsed once).
pub fn document() -> &'static serde_json::Value {
    static JSON: OnceLock<serde_json::Value> = OnceLock::new();
    JSON.get_or_init(|| serde_yaml_ng::from_str(YAML).expect("medic/openapi.yaml is valid YAML (tested)"))
}

pub async fn json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

pub async fn yaml() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(YAML)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_describes_exactly_the_routes_the_server_has() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "an OpenAPI 3 document");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> =
            super::super::route_table().into_iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty(), "routes missing from medic/openapi.yaml: {undocumented:?}");
        assert!(unserved.is_empty(), "medic/openapi.yaml documents routes the server lacks: {unserved:?}");
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                            _ => refs(v, out),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut found = Vec::new();
        refs(doc, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.strip_prefix('#').expect("local references only");
            assert!(doc.pointer(pointer).is_some(), "{reference} does not resolve");
        }
    }
}
