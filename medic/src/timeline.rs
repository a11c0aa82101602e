//! What `medic incidents list` and `medic incidents show` print.
use medic_collector::metrics::QuerySummary;
use medic_core::decision::DecisionRecord;
use medic_core::{AuditKind, FindingReport, StepRecord};
use medic_store::{AlertRecord, AuditRecord, Incident};
use std::fmt::Write as _;

/// One line per incident, newest first.
pub fn list(incidents: &[Incident]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<17}  {:<20}  {:<24}  {:<34}  TITLE",
        "INCIDENT", "STATUS", "OPENED", "ROOT CAUSE", "TARGET"
    );
    for i in incidents {
        let _ = writeln!(
            out,
            "{:<36}  {:<17}  {:<20}  {:<24}  {:<34}  {}",
            i.uid.to_string(),
            i.status.as_str(),
            i.opened_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            i.root_cause.map(|c| c.as_str()).unwrap_or("-"),
            i.target.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            i.title
        );
    }
    out
}

/// The whole story of one incident: its alerts, then every audit record with the detail that matters.
pub fn show(incident: &Incident, alerts: &[AlertRecord], timeline: &[AuditRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Incident {} ({})  status: {}", incident.uid, incident.uid.short(), incident.status.as_str());
    let _ = writeln!(
        out,
        "  opened {} · namespace {} · target {}",
        incident.opened_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        incident.namespace.as_deref().unwrap_or("-"),
        incident.target.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "-".into())
    );
    if let Some(d) = &incident.diagnosis {
        let _ = writeln!(out, "  diagnosis: {d}");
    }
    let _ = writeln!(out, "\nAlerts");
    for a in alerts {
        let labels: Vec<String> =
            a.alert.labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "  {}  {:<8}  {}  {{{}}}",
            a.alert.starts_at.strftime("%H:%M:%S"),
            a.alert.status.as_str(),
            a.alert.name,
            labels.join(", ")
        );
    }
    let _ = writeln!(out, "\nTimeline");
    for r in timeline {
        let e = &r.entry;
        let _ = writeln!(
            out,
            "  {}  {:<19}  {:<9}  {}",
            e.at.strftime("%H:%M:%S%.3f"),
            e.kind.as_str(),
            e.actor,
            e.summary
        );
        match e.kind {
            AuditKind::ContextCollected => context(&mut out, &e.detail),
            AuditKind::Findings => findings(&mut out, &e.detail),
            AuditKind::Decision => decision(&mut out, &e.detail),
            AuditKind::ActionApplied | AuditKind::ActionFailed | AuditKind::RolledBack => step(&mut out, &e.detail),
            _ => {}
        }
    }
    out
}

const INDENT: &str = "                                            ";

/// What the context lacks, and the metric context: each PromQL query and what it answered.
fn context(out: &mut String, detail: &serde_json::Value) {
    let gaps = detail.get("gaps").and_then(serde_json::Value::as_array).into_iter().flatten();
    for gap in gaps.filter_map(serde_json::Value::as_str) {
        let _ = writeln!(out, "{INDENT}gap: {gap}");
    }
    let Some(metrics) = detail.get("metrics") else { return };
    let Ok(queries) = serde_json::from_value::<Vec<QuerySummary>>(metrics.clone()) else { return };
    for query in queries {
        let _ = writeln!(out, "{INDENT}promql {}: {}", query.signal, query.query);
        let shown: Vec<String> = query
            .values
            .iter()
            .take(6)
            .map(|(subject, value, points)| {
                let value = if query.signal.ends_with("_bytes") {
                    format!("{:.1}Mi", value / f64::from(1 << 20))
                } else {
                    format!("{value:.3}")
                };
                let trend = if *points > 0 { format!(" ({points} points)") } else { String::new() };
                format!("{subject} {value}{trend}")
            })
            .collect();
        let more = query.values.len().saturating_sub(shown.len());
        let more = if more > 0 { format!(", and {more} more") } else { String::new() };
        let _ = writeln!(out, "{INDENT}    = {}{more}", shown.join(", "));
    }
}

fn findings(out: &mut String, detail: &serde_json::Value) {
    let Ok(reports) = serde_json::from_value::<Vec<FindingReport>>(detail.clone()) else { return };
    for report in reports {
        if let Some(error) = &report.error {
            let _ = writeln!(out, "{INDENT}{}: failed: {error}", report.specialist);
        }
        for h in &report.hypotheses {
            let _ = writeln!(
                out,
                "{INDENT}{:<9} {} at {} (confidence {:.2}){}",
                report.specialist,
                h.class,
                h.target,
                h.confidence,
                h.playbook.as_deref().map(|p| format!(" → {p}")).unwrap_or_default()
            );
            for evidence in h.evidence.iter().take(4) {
                let _ = writeln!(out, "{INDENT}    · {}", evidence.detail);
            }
        }
    }
}

fn decision(out: &mut String, detail: &serde_json::Value) {
    let Ok(record) = serde_json::from_value::<DecisionRecord>(detail.clone()) else { return };
    for (i, r) in record.ranked.iter().enumerate().take(5) {
        let _ = writeln!(
            out,
            "{INDENT}{}. {} at {} score {:.2} (from {})",
            i + 1,
            r.hypothesis.class,
            r.hypothesis.target,
            r.score,
            r.supported_by.join(", ")
        );
        for note in &r.notes {
            let _ = writeln!(out, "{INDENT}     {note}");
        }
    }
    if !record.missing.is_empty() {
        let _ = writeln!(out, "{INDENT}missing: {}", record.missing.join(", "));
    }
    let _ =
        writeln!(out, "{INDENT}thresholds: confidence {:.2}, margin {:.2}", record.min_confidence, record.min_margin);
}

fn step(out: &mut String, detail: &serde_json::Value) {
    let record = serde_json::from_value::<StepRecord>(detail.clone())
        .ok()
        .or_else(|| detail.get("step").and_then(|s| serde_json::from_value::<StepRecord>(s.clone()).ok()));
    let Some(record) = record else { return };
    for call in &record.api_calls {
        let _ = writeln!(out, "{INDENT}{call}");
    }
    if let Some(error) = &record.error {
        let _ = writeln!(out, "{INDENT}error: {error}");
    }
}

/// At most `max` characters of `text`, with an ellipsis when it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
