//! The few HTTP API calls the harness makes itself: PromQL queries (readiness, the repair report's
//! rule-firing times) and Alertmanager's view of its alerts.
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// One series of a query result: its labels and its samples `(unix seconds, value)`, oldest first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    #[serde(rename = "metric")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "one_sample")]
    pub value: Option<(f64, f64)>,
    #[serde(default, deserialize_with = "samples")]
    pub values: Vec<(f64, f64)>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Series>,
}

fn sample(raw: (f64, String)) -> (f64, f64) {
    (raw.0, raw.1.parse().unwrap_or(f64::NAN))
}

fn one_sample<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<(f64, f64)>, D::Error> {
    Ok(Option::<(f64, String)>::deserialize(d)?.map(sample))
}

fn samples<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
    Ok(Vec::<(f64, String)>::deserialize(d)?.into_iter().map(sample).collect())
}

async fn query(client: &reqwest::Client, url: String, form: Vec<(&str, String)>) -> Result<Vec<Series>> {
    let what = |m: String| Error::Http { what: url.clone(), message: m };
    let body = serde_urlencoded_form(&form);
    let response = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| what(e.to_string()))?;
    let answer: Answer = response.json().await.map_err(|e| what(format!("reading the answer: {e}")))?;
    if answer.status != "success" {
        return Err(what(answer.error.unwrap_or(answer.status)));
    }
    Ok(answer.data.map(|d| d.result).unwrap_or_default())
}

/// `application/x-www-form-urlencoded` without another dependency: PromQL needs its braces, quotes and
/// spaces escaped.
fn serde_urlencoded_form(pairs: &[(&str, String)]) -> String {
    fn encode(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// `POST /api/v1/query`.
pub async fn instant(client: &reqwest::Client, prometheus: &str, promql: &str) -> Result<Vec<Series>> {
    query(client, format!("{prometheus}/api/v1/query"), vec![("query", promql.to_string())]).await
}

/// `POST /api/v1/query_range` between two unix times.
pub async fn range(
    client: &reqwest::Client,
    prometheus: &str,
    promql: &str,
    start: f64,
    end: f64,
    step_secs: f64,
) -> Result<Vec<Series>> {
    let form = vec![
        ("query", promql.to_string()),
        ("start", format!("{start:.3}")),
        ("end", format!("{end:.3}")),
        ("step", format!("{step_secs}")),
    ];
    query(client, format!("{prometheus}/api/v1/query_range"), form).await
}

/// An alert as Alertmanager's API v2 lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ManagedAlert {
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    pub fingerprint: String,
    pub status: ManagedStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ManagedStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
}

/// `GET /api/v2/alerts` of Alertmanager.
pub async fn alertmanager_alerts(client: &reqwest::Client, alertmanager: &str) -> Result<Vec<ManagedAlert>> {
    let url = format!("{alertmanager}/api/v2/alerts");
    let what = |m: String| Error::Http { what: url.clone(), message: m };
    let response = client.get(&url).send().await.map_err(|e| what(e.to_string()))?;
    response.json().await.map_err(|e| what(format!("reading the answer: {e}")))
}

/// PromQL's string escaping for a label value in a selector.
pub fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_both_shapes_parse() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"kube-state-metrics"},"value":[1700000000.5,"1"]}]}}"#;
        let answer: Answer = serde_json::from_str(vector).unwrap();
        let series = &answer.data.unwrap().result[0];
        assert_eq!(series.labels["job"], "kube-state-metrics");
        assert_eq!(series.value, Some((1700000000.5, 1.0)));
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"alertname":"A"},"values":[[1700000000,"1"],[1700000001,"NaN"]]}]}}"#;
        let answer: Answer = serde_json::from_str(matrix).unwrap();
        let values = &answer.data.unwrap().result[0].values;
        assert_eq!(values[0], (1700000000.0, 1.0));
        assert!(values[1].1.is_nan());
    }

    #[test]
    fn queries_are_form_encoded() {
        let form = serde_urlencoded_form(&[("query", r#"up{job="a b"} > 0"#.to_string())]);
        assert_eq!(form, "query=up%7Bjob%3D%22a+b%22%7D+%3E+0");
        assert_eq!(label_value(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
