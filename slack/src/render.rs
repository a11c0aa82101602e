//! One Block Kit message per incident event.
//!
//! Every message names its incident (short uid, title, a link when medic's public URL is known) in a
//! context line, so a message read out of its thread still says what it is about. Text that comes from
//! the outside (alert labels, evidence, log lines) is escaped. Lists are bounded: each section holds at
//! most [`crate::blocks::MAX_TEXT`] characters and says how many items it left out.
use medic_core::decision::{Decision, DecisionRecord, RankedHypothesis};
use medic_core::execution::{ExecutionOutcome, ExecutionReport, StepRecord};
use medic_core::messages::IncidentEvent;
use medic_core::{Alert, IncidentUid, Plan, PlanId, Risk};

use crate::blocks::{ButtonStyle, Element, MAX_TEXT, Message, MessageBuilder, escape, length, truncate};
use crate::interaction::{APPROVE, REJECT};

mod writes;
pub use writes::{WritesChange, render_writes};

/// How many competing hypotheses an escalation lists (one section each).
const MAX_HYPOTHESES: usize = 10;
/// Evidence lines shown per hypothesis in an escalation.
const EVIDENCE_PER_HYPOTHESIS: usize = 3;

/// What the renderer knows beyond the event.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The incident's title (its first alert), when known.
    pub title: Option<String>,
    /// medic's public base URL (`https://medic.example.com`), for links to the incident.
    pub base_url: Option<String>,
    /// Whether a plan waiting for approval gets Approve/Reject buttons (Slack interactivity is configured).
    pub interactive: bool,
}

impl RenderOptions {
    fn identity(&self, incident: IncidentUid) -> Vec<String> {
        let short = incident.short();
        let mut line = match &self.base_url {
            Some(base) => format!("<{}/v1/incidents/{incident}|{short}>", base.trim_end_matches('/')),
            None => format!("*{short}*"),
        };
        if let Some(title) = &self.title {
            line.push_str(" · ");
            line.push_str(&escape(title));
        }
        vec![format!("medic · {line}")]
    }
}

/// The message for one event of `incident`.
pub fn render(incident: IncidentUid, event: &IncidentEvent, options: &RenderOptions) -> Message {
    let short = incident.short();
    let builder = match event {
        IncidentEvent::Opened { alert } => opened(&short, alert),
        IncidentEvent::Diagnosed { record } => diagnosed(&short, record),
        IncidentEvent::ApprovalRequested { plan } => approval_requested(&short, plan, options.interactive),
        IncidentEvent::Acted { report } => {
            let header = format!(":hammer_and_wrench: Acted: {}", outcome(&report.outcome));
            steps_report(MessageBuilder::new(format!("{short}: acted ({})", report.outcome.kind())), &header, report)
        }
        IncidentEvent::Verified { report } => {
            let b = MessageBuilder::new(format!("{short}: the fix is verified"));
            steps_report(b, ":white_check_mark: Verified: the service recovered", report)
        }
        IncidentEvent::RolledBack { report } => {
            let b = MessageBuilder::new(format!("{short}: the fix did not work and was rolled back"));
            steps_report(b, ":leftwards_arrow_with_hook: Rolled back: the fix did not work", report)
        }
        IncidentEvent::Escalated { reason, record } => escalated(&short, reason, record.as_deref()),
        IncidentEvent::Closed { summary } => MessageBuilder::new(format!("{short} closed: {summary}"))
            .section(&format!(":checkered_flag: *Closed:* {}", escape(summary))),
    };
    builder.context_kept(options.identity(incident)).build()
}

/// The message that records a human's verdict on a plan (or why it could not be applied).
pub fn render_verdict(
    incident: IncidentUid,
    plan: PlanId,
    approved: bool,
    by: &str,
    refused: Option<&str>,
    options: &RenderOptions,
) -> Message {
    let who = who(by);
    let word = if approved { "approved" } else { "rejected" };
    let builder = match refused {
        None => {
            let icon = if approved { ":thumbsup:" } else { ":no_entry_sign:" };
            MessageBuilder::new(format!("{}: plan {word} by {by}", incident.short()))
                .section(&format!("{icon} Plan `{plan}` {word} by {who}"))
        }
        Some(reason) => MessageBuilder::new(format!("{}: {by}'s verdict was not applied", incident.short()))
            .section(&format!(":warning: {who} {word} plan `{plan}`, but it was not applied: {}", escape(reason))),
    };
    builder.context_kept(options.identity(incident)).build()
}

/// `slack:U123` as a mention, anyone else by name.
fn who(by: &str) -> String {
    match by.strip_prefix("slack:") {
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => format!("<@{id}>"),
        _ => format!("`{}`", escape(by)),
    }
}

fn opened(short: &str, alert: &Alert) -> MessageBuilder {
    let namespace = alert.namespace().unwrap_or("");
    let workload = ["deployment", "statefulset", "daemonset", "pod", "service", "node", "instance"]
        .iter()
        .find_map(|k| alert.label(k).map(|v| format!("{k} {}", escape(v))))
        .unwrap_or_default();
    let text = match namespace {
        "" => format!("{short} opened: {}", alert.name),
        ns => format!("{short} opened: {} in {ns}", alert.name),
    };
    let mut b = MessageBuilder::new(text).header(&format!(":rotating_light: {}", alert.name)).fields([
        ("Namespace", escape(namespace)),
        ("Object", workload),
        ("Severity", escape(alert.severity())),
        ("Source", alert.source.to_string()),
        ("Firing since", alert.starts_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
    ]);
    let summary = alert.summary();
    if summary != alert.name {
        b = b.section(&escape(summary));
    }
    if let Some(description) = alert.annotations.get("description").filter(|d| d.as_str() != summary) {
        b = b.section(&escape(description));
    }
    b
}

fn percent(x: f64) -> String {
    format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0))
}

fn diagnosed(short: &str, record: &DecisionRecord) -> MessageBuilder {
    let Some(top) = record.top() else {
        let reason = match &record.decision {
            Decision::Observe { reason } | Decision::Escalate { reason } => reason.as_str(),
            Decision::Act { .. } => "",
        };
        return MessageBuilder::new(format!("{short}: no root cause found"))
            .header(":mag: No root cause found")
            .section(&escape(reason));
    };
    let h = &top.hypothesis;
    let decision = match &record.decision {
        Decision::Act { plan } => format!("act: {} ({} risk)", escape(&plan.playbook), risk(plan.risk)),
        Decision::Observe { reason } => format!("observe: {}", escape(reason)),
        Decision::Escalate { reason } => format!("escalate: {}", escape(reason)),
    };
    let mut b = MessageBuilder::new(format!("{short}: diagnosed {} at {}", h.class, h.target))
        .header(&format!(":mag: Diagnosed: {} at {}", h.class, h.target))
        .fields([
            ("Root cause", format!("`{}`", h.class)),
            ("Target", format!("`{}`", escape(&h.target.to_string()))),
            ("Confidence", format!("{} (score {:.2})", percent(h.confidence), top.score)),
            ("Supported by", escape(&top.supported_by.join(", "))),
            ("Decision", decision),
        ])
        .section(&bounded("*Evidence*", h.evidence.iter().map(evidence_line), "evidence lines"));
    if h.evidence.is_empty() {
        b = b.section("_No evidence recorded._");
    }
    if record.ranked.len() > 1 {
        let others = record.ranked[1..].iter().map(|r| {
            format!(
                "• `{}` at `{}`: score {:.2} ({})",
                r.hypothesis.class,
                escape(&r.hypothesis.target.to_string()),
                r.score,
                escape(&r.supported_by.join(", "))
            )
        });
        b = b.section(&bounded("*Other hypotheses*", others, "hypotheses"));
    }
    if !record.recalled.is_empty() {
        let recalled = record.recalled.iter().take(5).map(|r| {
            format!(
                "{} ({}, similarity {:.2}, fix {})",
                r.incident.short(),
                r.class,
                r.similarity,
                if r.fix_worked { "worked" } else { "failed" }
            )
        });
        b = b.context([format!("Similar past incidents: {}", recalled.collect::<Vec<_>>().join("; "))]);
    }
    if !record.missing.is_empty() {
        b = b.context([format!("No answer from: {}", escape(&record.missing.join(", ")))]);
    }
    b
}

fn evidence_line(e: &medic_core::Evidence) -> String {
    let source = serde_json::to_value(e.source).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    match &e.object {
        Some(object) => format!("• _{source}_ `{}`: {}", escape(&object.to_string()), escape(&e.detail)),
        None => format!("• _{source}_: {}", escape(&e.detail)),
    }
}

fn risk(risk: Risk) -> &'static str {
    match risk {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
    }
}

fn approval_requested(short: &str, plan: &Plan, interactive: bool) -> MessageBuilder {
    let mut b = MessageBuilder::new(format!("{short}: approval needed for {}", plan.playbook))
        .header(&format!(":raised_hand: Approval needed: {}", plan.playbook))
        .fields([
            ("Root cause", format!("`{}`", plan.class)),
            ("Target", format!("`{}`", escape(&plan.target.to_string()))),
            ("Playbook", format!("{} v{}", escape(&plan.playbook), escape(&plan.playbook_version))),
            ("Risk", risk(plan.risk).to_string()),
            ("Rolls back on failure", if plan.rollback_on_failure { "yes" } else { "no" }.to_string()),
        ])
        .section(&bounded(
            "*Steps*",
            plan.steps.iter().enumerate().map(|(i, s)| format!("{}. {}", i + 1, escape(&s.to_string()))),
            "steps",
        ))
        .section(&escape(&plan.rationale));
    let id = plan.id.to_string();
    if interactive {
        b = b.actions(
            &plan.incident.to_string(),
            vec![
                Element::button(APPROVE, "Approve", &id, Some(ButtonStyle::Primary)),
                Element::button(REJECT, "Reject", &id, Some(ButtonStyle::Danger)),
            ],
        );
    }
    b.context([format!("Plan `{id}` · or `POST /v1/plans/{id}/approve` (or `/reject`) with an approver token")])
}

fn outcome(outcome: &ExecutionOutcome) -> String {
    match outcome {
        ExecutionOutcome::Verified => "verified".into(),
        ExecutionOutcome::VerificationFailed { rolled_back: true } => "verification failed, rolled back".into(),
        ExecutionOutcome::VerificationFailed { rolled_back: false } => "verification failed".into(),
        ExecutionOutcome::Blocked { rule, .. } => format!("blocked by {rule}"),
        ExecutionOutcome::Failed { step, .. } => format!("step {} failed", step + 1),
        ExecutionOutcome::Suspended { .. } => "writes suspended".into(),
    }
}

fn step_line(step: &StepRecord) -> String {
    let state = match (&step.error, step.applied_at, step.dry_run_ok) {
        (Some(error), _, _) => format!(":x: {}", escape(error)),
        (None, Some(_), _) => ":white_check_mark: applied".into(),
        (None, None, Some(true)) => "dry run passed, not applied".into(),
        (None, None, _) => "not applied".into(),
    };
    let kind = if step.rollback { "rollback: " } else { "" };
    format!("• {kind}{}: {state}", escape(&step.action.to_string()))
}

fn steps_report(b: MessageBuilder, header: &str, report: &ExecutionReport) -> MessageBuilder {
    let mut b = b.header(header);
    match &report.outcome {
        ExecutionOutcome::Blocked { reason, .. }
        | ExecutionOutcome::Failed { error: reason, .. }
        | ExecutionOutcome::Suspended { reason } => b = b.section(&escape(reason)),
        _ => {}
    }
    if let Some(v) = &report.verification {
        let verdict = if v.ok { "passed" } else { "failed" };
        b = b.section(&format!("*Verification {verdict}* after {:.0} s: {}", v.elapsed_secs, escape(&v.detail)));
    }
    if !report.steps.is_empty() {
        b = b.section(&bounded("*Steps*", report.steps.iter().map(step_line), "steps"));
    }
    b.context([format!("Plan `{}`", report.plan)])
}

fn escalated(short: &str, reason: &str, record: Option<&DecisionRecord>) -> MessageBuilder {
    let mut b = MessageBuilder::new(format!("{short} escalated: {reason}"))
        .header(":sos: Escalated: a human is needed")
        .section(&format!("*Why:* {}", escape(reason)));
    let Some(record) = record else { return b };
    if !record.ranked.is_empty() {
        b = b.section(&format!(
            "*Competing hypotheses* (acting needs confidence ≥ {} and a margin ≥ {})",
            percent(record.min_confidence),
            percent(record.min_margin)
        ));
    }
    for (rank, r) in record.ranked.iter().take(MAX_HYPOTHESES).enumerate() {
        b = b.section(&hypothesis_section(rank + 1, r));
    }
    if record.ranked.len() > MAX_HYPOTHESES {
        b = b.context([format!("_{} more hypotheses not shown_", record.ranked.len() - MAX_HYPOTHESES)]);
    }
    if !record.missing.is_empty() {
        b = b.context([format!("No answer from: {}", escape(&record.missing.join(", ")))]);
    }
    b
}

fn hypothesis_section(rank: usize, r: &RankedHypothesis) -> String {
    let h = &r.hypothesis;
    let title = format!(
        "*{rank}. `{}` at `{}`*: score {:.2}, confidence {} ({})",
        h.class,
        escape(&h.target.to_string()),
        r.score,
        percent(h.confidence),
        escape(&r.supported_by.join(", "))
    );
    let lines = h.evidence.iter().take(EVIDENCE_PER_HYPOTHESIS).map(evidence_line);
    let mut text = bounded(&title, lines, "evidence lines");
    if text.is_empty() {
        text = title;
    }
    if h.evidence.len() > EVIDENCE_PER_HYPOTHESIS {
        let more = format!("\n_…and {} more evidence lines_", h.evidence.len() - EVIDENCE_PER_HYPOTHESIS);
        if length(&text) + length(&more) <= MAX_TEXT {
            text.push_str(&more);
        }
    }
    text
}

/// `title` and as many `lines` as fit in one section's text, then how many were left out. Empty when there
/// are no lines (a title with nothing under it says nothing).
fn bounded(title: &str, lines: impl Iterator<Item = String>, what: &str) -> String {
    // Room kept for the "…and N more" line.
    const RESERVE: usize = 48;
    // One long line (a stack trace in a log) must not crowd out the others.
    const MAX_LINE: usize = 600;
    let mut text = title.to_string();
    let mut shown = 0usize;
    let mut left_out = 0usize;
    for line in lines {
        let line = truncate(&line, MAX_LINE);
        if left_out == 0 && length(&text) + 1 + length(&line) <= MAX_TEXT - RESERVE {
            shown += 1;
            text.push('\n');
            text.push_str(&line);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        text.push_str(&format!("\n_…and {left_out} more {what}_"));
    }
    if shown + left_out == 0 {
        return String::new();
    }
    text
}

#[cfg(test)]
mod tests;
