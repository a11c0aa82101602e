//! Synthetic alerts: Alertmanager's version-4 webhook, posted to medic's real endpoint with the bearer
//! token, as Alertmanager would post an alert someone's rule raised.
use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Alertmanager's "not ended" timestamp.
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

/// The webhook body of one alert, firing (`ended: None`) or resolved.
pub fn body(
    name: &str,
    labels: &BTreeMap<String, String>,
    summary: &str,
    starts_at: Timestamp,
    ended: Option<Timestamp>,
) -> serde_json::Value {
    let mut all = labels.clone();
    all.insert("alertname".into(), name.to_string());
    let status = if ended.is_some() { "resolved" } else { "firing" };
    let fingerprint = {
        // Alertmanager fingerprints the label set; any stable hash of it serves the receiver.
        let text: String = all.iter().map(|(k, v)| format!("{k}\u{1}{v}\u{2}")).collect();
        let hash =
            text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        format!("{hash:016x}")
    };
    let group: Vec<String> = [("alertname", name), ("namespace", labels.get("namespace").map_or("", |n| n))]
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    json!({
        "receiver": "medic",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": all,
            "annotations": {"summary": summary},
            "startsAt": starts_at.to_string(),
            "endsAt": ended.map_or_else(|| NOT_ENDED.to_string(), |t| t.to_string()),
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": fingerprint,
        }],
        "groupLabels": {"alertname": name},
        "commonLabels": all,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": format!("{{}}:{{{}}}", group.join(", ")),
        "truncatedAlerts": 0,
    })
}

/// POSTs `body` to `url` (`http://127.0.0.1:PORT/path`) with a bearer token; fails unless medic answers 2xx.
pub async fn post(url: &str, token: &str, body: &serde_json::Value) -> Result<()> {
    let rest = url.strip_prefix("http://").context("the webhook URL is not http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let payload = serde_json::to_vec(body)?;
    let mut stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connecting to {host}"))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Alertmanager/0.25.0\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&payload).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.context("reading medic's answer")?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') {
        bail!("medic answered the alert webhook with {}", answer.lines().next().unwrap_or("nothing"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_alertmanager_v4() {
        let labels = BTreeMap::from([("namespace".to_string(), "shop".to_string())]);
        let at: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let firing = body("MedicServiceLatency", &labels, "slow", at, None);
        assert_eq!(firing["version"], "4");
        assert_eq!(firing["alerts"][0]["endsAt"], NOT_ENDED);
        assert_eq!(firing["alerts"][0]["labels"]["alertname"], "MedicServiceLatency");
        assert_eq!(firing["groupKey"], "{}:{alertname=\"MedicServiceLatency\", namespace=\"shop\"}");
        let resolved = body("MedicServiceLatency", &labels, "slow", at, Some(at));
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["alerts"][0]["fingerprint"], firing["alerts"][0]["fingerprint"]);
    }
}
