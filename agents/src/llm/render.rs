//! The context as a model reads it: compact lines, most telling first, cut to a budget, with every secret
//! redacted. The same rendering is what a model's quoted evidence is checked against, so "the evidence
//! occurs in the context" means it occurs in a line medic sent.
use jiff::Timestamp;
use medic_core::context::{ContainerState, ContainerStatusSnapshot, PodSnapshot};
use medic_core::{EvidenceSource, IncidentContext, ObjectKind, ObjectRef};
use std::collections::BTreeSet;
use std::fmt::Write;

use crate::llm::config::ContextBudget;
use crate::llm::redact::Redactor;

/// Quoted evidence shorter than this (after normalising) proves nothing.
pub const MIN_EVIDENCE_CHARS: usize = 6;

/// One line sent to the model, with what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestLine {
    pub text: String,
    pub source: EvidenceSource,
    pub object: Option<ObjectRef>,
    /// `text` normalised for matching quotes against it.
    normalised: String,
}

/// The rendered context.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    text: String,
    lines: Vec<DigestLine>,
    objects: BTreeSet<ObjectRef>,
    /// Lines left out to respect the budget.
    pub omitted: usize,
}

impl Digest {
    pub fn of(context: &IncidentContext, redactor: &Redactor, budget: &ContextBudget) -> Digest {
        let mut r = Renderer {
            digest: Digest::default(),
            redactor,
            budget,
            now: context.collected_at,
            section_start: 0,
            section_cap: usize::MAX,
        };
        r.digest.objects = objects(context);
        r.render(context);
        r.digest
    }

    /// The text sent to the model.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn lines(&self) -> &[DigestLine] {
        &self.lines
    }

    /// Objects a hypothesis may name as its target: the workloads, pods and nodes of the context.
    pub fn objects(&self) -> &BTreeSet<ObjectRef> {
        &self.objects
    }

    /// The line that contains `quote` (compared case- and whitespace-insensitively), if any.
    pub fn find(&self, quote: &str) -> Option<&DigestLine> {
        let quote = normalise(strip_quote_marks(quote));
        if quote.chars().count() < MIN_EVIDENCE_CHARS {
            return None;
        }
        self.lines.iter().find(|l| l.normalised.contains(&quote))
    }
}

/// Every workload, pod, node and pod owner the context names.
fn objects(context: &IncidentContext) -> BTreeSet<ObjectRef> {
    let mut objects: BTreeSet<ObjectRef> = context.workloads.iter().map(|w| w.workload.clone()).collect();
    for pod in &context.pods {
        objects.insert(ObjectRef::pod(&pod.namespace, &pod.name));
        if let Some(owner) = &pod.owner {
            objects.insert(owner.clone());
        }
    }
    objects.extend(context.nodes.iter().map(|n| ObjectRef::node(&n.name)));
    objects.extend(context.dependencies.iter().flat_map(|d| [d.from.clone(), d.to.clone()]));
    if let Some(target) = &context.target {
        objects.insert(target.clone());
    }
    objects
}

fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// A quote as models write it: in quotes or backticks, behind a list marker.
fn strip_quote_marks(quote: &str) -> &str {
    let mut q = quote.trim();
    for prefix in ["- ", "| ", "* "] {
        q = q.strip_prefix(prefix).unwrap_or(q);
    }
    let q = q.trim();
    for (open, close) in [('"', '"'), ('`', '`'), ('\'', '\''), ('“', '”')] {
        if q.len() >= 2 && q.starts_with(open) && q.ends_with(close) {
            return &q[open.len_utf8()..q.len() - close.len_utf8()];
        }
    }
    q
}

struct Renderer<'a> {
    digest: Digest,
    redactor: &'a Redactor,
    budget: &'a ContextBudget,
    now: Option<Timestamp>,
    /// Where the current section began, and how much of the budget it may use.
    section_start: usize,
    section_cap: usize,
}

impl Renderer<'_> {
    /// Starts a section that may use at most `share` of the budget, so that one long section (a hundred
    /// healthy pods) does not crowd out the next (the log line that says why).
    fn heading(&mut self, title: &str, share: f64) {
        self.section_start = self.digest.text.len();
        self.section_cap = (self.budget.max_chars as f64 * share) as usize;
        if self.full() {
            return;
        }
        let _ = writeln!(self.digest.text, "## {title}");
    }

    fn full(&self) -> bool {
        self.digest.text.len() >= self.budget.max_chars
    }

    /// Adds one line (redacted and cut); counts it as omitted once the budget is spent.
    fn line(&mut self, indent: usize, text: &str, source: EvidenceSource, object: Option<&ObjectRef>) {
        let redacted = self.redactor.redact(text);
        let cut = cut(redacted.trim_end(), self.budget.max_line_chars);
        let len = indent + cut.len() + 1;
        if self.digest.text.len() + len > self.budget.max_chars
            || self.digest.text.len() + len - self.section_start > self.section_cap
        {
            self.digest.omitted += 1;
            return;
        }
        for _ in 0..indent {
            self.digest.text.push(' ');
        }
        self.digest.text.push_str(&cut);
        self.digest.text.push('\n');
        self.digest.lines.push(DigestLine { normalised: normalise(&cut), text: cut, source, object: object.cloned() });
    }

    fn age(&self, at: Option<Timestamp>) -> String {
        match (self.now, at) {
            (Some(now), Some(at)) => {
                let secs = now.duration_since(at).as_secs();
                if secs >= 0 { format!("{secs}s ago") } else { format!("in {}s", -secs) }
            }
            _ => "at an unknown time".into(),
        }
    }

    fn render(&mut self, ctx: &IncidentContext) {
        self.alerts(ctx);
        self.pods(ctx);
        self.events(ctx);
        self.logs(ctx);
        self.workloads(ctx);
        self.rollouts(ctx);
        self.topology(ctx);
        self.nodes(ctx);
        self.metrics(ctx);
        if !ctx.gaps.is_empty() {
            self.heading("Not collected", 0.1);
            for gap in &ctx.gaps {
                self.line(0, gap, EvidenceSource::Topology, None);
            }
        }
        if self.digest.omitted > 0 {
            let _ =
                writeln!(self.digest.text, "({} more lines left out to keep the context short)", self.digest.omitted);
        }
    }

    fn alerts(&mut self, ctx: &IncidentContext) {
        self.heading("Alerts", 0.1);
        for alert in &ctx.alerts {
            let labels: Vec<String> = alert
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let line = format!(
                "{} {} ({}) {} — {}",
                alert.name,
                alert.status.as_str(),
                alert.severity(),
                labels.join(" "),
                alert.summary()
            );
            self.line(0, &line, EvidenceSource::Metric, ctx.target.as_ref());
        }
        if let Some(target) = &ctx.target {
            self.line(0, &format!("alert target: {target}"), EvidenceSource::Topology, Some(target));
        }
    }

    fn workloads(&mut self, ctx: &IncidentContext) {
        if ctx.workloads.is_empty() {
            return;
        }
        self.heading("Workloads", 0.25);
        let mut workloads: Vec<_> = ctx.workloads.iter().collect();
        workloads.sort_by_key(|w| (ctx.target.as_ref() != Some(&w.workload), w.replicas_ready >= w.replicas_desired));
        for w in workloads {
            let line = format!(
                "{} replicas desired={} ready={} available={} updated={} revision={}",
                w.workload,
                w.replicas_desired,
                w.replicas_ready,
                w.replicas_available,
                w.replicas_updated,
                w.revision.map_or("-".into(), |r| r.to_string())
            );
            self.line(0, &line, EvidenceSource::Rollout, Some(&w.workload));
            for c in w.conditions.iter().filter(|c| c.status != "True" || c.type_ == "Progressing") {
                let line = format!(
                    "condition {}={} {} {}",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or("")
                );
                self.line(2, &line, EvidenceSource::Rollout, Some(&w.workload));
            }
            for c in &w.containers {
                let mut line = format!("container {} image={}", c.name, c.image);
                for (what, list) in [("requests", &c.requests), ("limits", &c.limits)] {
                    if !list.is_empty() {
                        let values: Vec<String> = list.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let _ = write!(line, " {what} {}", values.join(","));
                    }
                }
                self.line(2, &line, EvidenceSource::Rollout, Some(&w.workload));
                if !c.env.is_empty() {
                    let env: Vec<String> =
                        c.env.iter().map(|(k, v)| format!("{k}={}", self.redactor.env_value(k, v))).collect();
                    self.line(4, &format!("env {}", env.join(" ")), EvidenceSource::Rollout, Some(&w.workload));
                }
            }
        }
    }

    fn pods(&mut self, ctx: &IncidentContext) {
        if ctx.pods.is_empty() {
            return;
        }
        self.heading("Pods", 0.3);
        // Troubled pods first, so a cut keeps them.
        let mut pods: Vec<&PodSnapshot> = ctx.pods.iter().collect();
        pods.sort_by_key(|p| (p.ready && p.restarts() == 0, p.name.clone()));
        let shown = pods.len().min(self.budget.max_pods);
        for pod in &pods[..shown] {
            let object = ObjectRef::pod(&pod.namespace, &pod.name);
            let mut line = format!(
                "{object} owner={} node={} phase={} ready={} restarts={}",
                pod.owner.as_ref().map_or("-".into(), ToString::to_string),
                pod.node.as_deref().unwrap_or("-"),
                pod.phase,
                pod.ready,
                pod.restarts()
            );
            if let Some(reason) = &pod.reason {
                let _ = write!(line, " reason={reason}");
            }
            if pod.deleting {
                line.push_str(" deleting");
            }
            self.line(0, &line, EvidenceSource::PodStatus, Some(&object));
            for c in &pod.containers {
                let line = container_line(c, |t| self.age(t));
                self.line(2, &line, EvidenceSource::PodStatus, Some(&object));
            }
        }
        if pods.len() > shown {
            self.digest.omitted += pods.len() - shown;
        }
    }

    fn events(&mut self, ctx: &IncidentContext) {
        if ctx.events.is_empty() {
            return;
        }
        self.heading("Events (newest last)", 0.2);
        // Warnings before normal events when there are too many; the order shown stays by time.
        let mut chosen: Vec<usize> = (0..ctx.events.len()).collect();
        chosen.sort_by_key(|&i| (ctx.events[i].type_ != "Warning", std::cmp::Reverse(i)));
        chosen.truncate(self.budget.max_events);
        chosen.sort_unstable();
        self.digest.omitted += ctx.events.len() - chosen.len();
        for i in chosen {
            let e = &ctx.events[i];
            let object = match (e.involved.kind.parse::<ObjectKind>(), &e.involved.namespace) {
                (Ok(kind), _) if kind.is_cluster_scoped() => {
                    Some(ObjectRef { kind, namespace: None, name: e.involved.name.clone() })
                }
                (Ok(kind), Some(ns)) => Some(ObjectRef::new(kind, ns, &e.involved.name)),
                _ => None,
            };
            let line = format!(
                "{} {} {}/{}: {} (x{}, last {})",
                e.type_,
                e.reason,
                e.involved.kind,
                e.involved.name,
                e.message,
                e.count,
                self.age(e.last_seen.or(e.first_seen))
            );
            self.line(0, &line, EvidenceSource::Event, object.as_ref());
        }
    }

    fn logs(&mut self, ctx: &IncidentContext) {
        if ctx.logs.is_empty() {
            return;
        }
        self.heading("Logs (last lines per container)", 0.3);
        // The previous instance of a crashed container says why it died: those first.
        let mut excerpts: Vec<_> = ctx.logs.iter().collect();
        excerpts.sort_by_key(|l| !l.previous);
        let shown = excerpts.len().min(self.budget.max_log_excerpts);
        self.digest.omitted += excerpts.len() - shown;
        for excerpt in &excerpts[..shown] {
            let object = ObjectRef::pod(&excerpt.namespace, &excerpt.pod);
            let which = if excerpt.previous { " (previous instance)" } else { "" };
            self.line(
                0,
                &format!("{object} container {}{which}:", excerpt.container),
                EvidenceSource::Log,
                Some(&object),
            );
            let skip = excerpt.lines.len().saturating_sub(self.budget.max_log_lines_per_container);
            self.digest.omitted += skip;
            for line in &excerpt.lines[skip..] {
                self.line(2, line, EvidenceSource::Log, Some(&object));
            }
        }
    }

    fn rollouts(&mut self, ctx: &IncidentContext) {
        if ctx.rollouts.is_empty() {
            return;
        }
        self.heading("Rollouts (revisions, newest first)", 0.15);
        let mut rollouts: Vec<_> = ctx.rollouts.iter().collect();
        rollouts.sort_by(|a, b| a.deployment.cmp(&b.deployment).then(b.revision.cmp(&a.revision)));
        let mut per_deployment = 0;
        let mut last: Option<&ObjectRef> = None;
        for r in rollouts {
            per_deployment = if last == Some(&r.deployment) { per_deployment + 1 } else { 0 };
            last = Some(&r.deployment);
            if per_deployment >= 3 {
                self.digest.omitted += 1;
                continue;
            }
            let mut line = format!(
                "{} revision {} ({}) created {} images={} ready={}/{}",
                r.deployment,
                r.revision,
                r.replica_set,
                self.age(r.created_at),
                r.images.join(","),
                r.ready_replicas,
                r.replicas
            );
            if let Some(cause) = &r.change_cause {
                let _ = write!(line, " change-cause={cause:?}");
            }
            for (container, limits) in &r.limits {
                let values: Vec<String> = limits.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = write!(line, " {container} limits {}", values.join(","));
            }
            self.line(0, &line, EvidenceSource::Rollout, Some(&r.deployment));
            for (container, env) in &r.env {
                let env: Vec<String> =
                    env.iter().map(|(k, v)| format!("{k}={}", self.redactor.env_value(k, v))).collect();
                self.line(
                    2,
                    &format!("{container} env {}", env.join(" ")),
                    EvidenceSource::Rollout,
                    Some(&r.deployment),
                );
            }
        }
    }

    fn topology(&mut self, ctx: &IncidentContext) {
        if ctx.dependencies.is_empty() && ctx.services.is_empty() {
            return;
        }
        self.heading("Dependencies and services", 0.15);
        for d in &ctx.dependencies {
            let line =
                format!("{} depends on {} through service {} ({:?}: {})", d.from, d.to, d.service, d.via, d.detail);
            self.line(0, &line, EvidenceSource::Topology, Some(&d.to));
        }
        for s in &ctx.services {
            let line = format!(
                "Service/{}/{} -> {} endpoints ready={} not-ready={}",
                s.namespace,
                s.name,
                s.backend.as_ref().map_or("-".into(), ToString::to_string),
                s.ready_endpoints,
                s.not_ready_endpoints
            );
            self.line(0, &line, EvidenceSource::Topology, s.backend.as_ref());
        }
        for p in &ctx.network_policies {
            let selector: Vec<String> = p.pod_selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let line = format!(
                "NetworkPolicy/{}/{} selects {} types {}",
                p.namespace,
                p.name,
                selector.join(","),
                p.policy_types.join(",")
            );
            self.line(0, &line, EvidenceSource::NetworkPolicy, None);
        }
    }

    fn nodes(&mut self, ctx: &IncidentContext) {
        if ctx.nodes.is_empty() {
            return;
        }
        self.heading("Nodes", 0.1);
        for n in &ctx.nodes {
            let object = ObjectRef::node(&n.name);
            let ready = match n.ready {
                Some(true) => "Ready",
                Some(false) => "NotReady",
                None => "Unknown",
            };
            let mut line = format!("{object} {ready}");
            if n.unschedulable {
                line.push_str(" unschedulable");
            }
            for c in n.conditions.iter().filter(|c| (c.type_ == "Ready") != (c.status == "True")) {
                let _ = write!(
                    line,
                    " {}={} ({}, {})",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or("-"),
                    self.age(c.last_transition)
                );
            }
            for t in &n.taints {
                let _ = write!(line, " taint {}:{}", t.key, t.effect);
            }
            self.line(0, &line, EvidenceSource::Node, Some(&object));
        }
    }

    fn metrics(&mut self, ctx: &IncidentContext) {
        if ctx.metrics.is_empty() {
            return;
        }
        self.heading("Metrics", 0.1);
        for m in &ctx.metrics {
            let labels: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut line = format!("{} {{{}}} = {:.4}", m.signal, labels.join(","), m.value);
            if let (Some(first), Some(last)) = (m.series.first(), m.series.last()) {
                let _ = write!(line, " (over the window: {:.4} → {:.4})", first.1, last.1);
            }
            self.line(0, &line, EvidenceSource::Metric, None);
        }
    }
}

fn container_line(c: &ContainerStatusSnapshot, age: impl Fn(Option<Timestamp>) -> String) -> String {
    let mut line = format!(
        "container {} image={} ready={} restarts={} state={}",
        c.name,
        c.image,
        c.ready,
        c.restart_count,
        state(&c.state, &age)
    );
    if let Some(last) = &c.last_state {
        let _ = write!(line, " last={}", state(last, &age));
    }
    for (what, list) in [("requests", &c.requests), ("limits", &c.limits)] {
        if !list.is_empty() {
            let values: Vec<String> = list.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(line, " {what} {}", values.join(","));
        }
    }
    line
}

fn state(s: &ContainerState, age: &impl Fn(Option<Timestamp>) -> String) -> String {
    match s {
        ContainerState::Waiting { reason, message } => {
            format!("waiting reason={} {}", reason.as_deref().unwrap_or("-"), message.as_deref().unwrap_or(""))
                .trim_end()
                .to_string()
        }
        ContainerState::Running { started_at } => format!("running since {}", age(*started_at)),
        ContainerState::Terminated { reason, exit_code, signal, message, finished_at, .. } => {
            let mut out = format!("terminated reason={} exit={exit_code}", reason.as_deref().unwrap_or("-"));
            if let Some(signal) = signal {
                let _ = write!(out, " signal={signal}");
            }
            if let Some(message) = message {
                let _ = write!(out, " message={message:?}");
            }
            let _ = write!(out, " finished {}", age(*finished_at));
            out
        }
    }
}

/// `text` cut to `max` bytes on a character boundary, marked when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::testkit::{ContextBuilder, alert, oom_killed};

    fn context() -> IncidentContext {
        ContextBuilder::new()
            .alert(alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-7d9f8c6b5-abcde")]))
            .target(ObjectRef::deployment("shop", "cart"))
            .node("node-1", Some(true))
            .deployment("shop", "cart", "cart:1.4", 2, "node-1", oom_killed(None))
            .with_workload(|w| {
                w.containers[0].env.insert("DB_PASSWORD".into(), "hunter2".into());
                w.containers[0].env.insert("REDIS_ADDR".into(), "cart-redis:6379".into());
            })
            .event("Pod", "shop", "cart-7d9f8c6b5-abcde", "Warning", "BackOff", "Back-off restarting failed container")
            .logs(
                "shop",
                "cart-7d9f8c6b5-abcde",
                true,
                &["connecting with password=hunter2", "java.lang.OutOfMemoryError: Java heap space"],
            )
            .build()
    }

    #[test]
    fn the_context_reads_compactly_without_secrets() {
        let digest = Digest::of(&context(), &Redactor::default(), &ContextBudget::default());
        let text = digest.text();
        assert!(!text.contains("hunter2"), "{text}");
        for expected in [
            "KubePodCrashLooping firing",
            "Deployment/shop/cart replicas desired=2 ready=0",
            "DB_PASSWORD=[REDACTED]",
            "REDIS_ADDR=cart-redis:6379",
            "last=terminated reason=OOMKilled exit=137",
            "Warning BackOff Pod/cart-7d9f8c6b5-abcde",
            "java.lang.OutOfMemoryError: Java heap space",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
        assert!(digest.objects().contains(&ObjectRef::deployment("shop", "cart")));
        assert!(digest.objects().contains(&ObjectRef::node("node-1")));
        assert!(!digest.objects().contains(&ObjectRef::deployment("shop", "payments")));
    }

    #[test]
    fn quotes_are_found_loosely_but_not_invented() {
        let digest = Digest::of(&context(), &Redactor::default(), &ContextBudget::default());
        let found = digest.find("\"java.lang.OutOfMemoryError:   Java HEAP space\"").expect("found");
        assert_eq!(found.source, EvidenceSource::Log);
        assert_eq!(found.object, Some(ObjectRef::pod("shop", "cart-7d9f8c6b5-abcde")));
        assert_eq!(digest.find("reason=OOMKilled exit=137").unwrap().source, EvidenceSource::PodStatus);
        assert!(digest.find("FATAL: sorry, too many clients already").is_none());
        assert!(digest.find("OOM").is_none(), "too short to prove anything");
        assert!(digest.find("hunter2 was the password").is_none());
    }

    #[test]
    fn the_budget_bounds_the_text_and_keeps_the_telling_lines() {
        let mut builder = ContextBuilder::new().node("node-1", Some(true));
        for i in 0..40 {
            builder = builder.deployment("shop", &format!("svc-{i}"), "img:1", 3, "node-1", |_, _| {});
        }
        let lines: Vec<String> = (0..500).map(|i| format!("GET /item/{i} 200 3ms")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let ctx = builder
            .logs("shop", "svc-0-7d9f8c6b5-abcde", true, &["panic: assignment to entry in nil map"])
            .logs("shop", "svc-1-7d9f8c6b5-abcde", false, &refs)
            .build();
        let budget = ContextBudget { max_chars: 4_000, ..ContextBudget::default() };
        let digest = Digest::of(&ctx, &Redactor::default(), &budget);
        assert!(digest.text().len() <= 4_000 + 100, "{}", digest.text().len());
        assert!(digest.omitted > 0);
        assert!(digest.text().contains("left out"));
        assert!(digest.text().contains("panic: assignment to entry in nil map"), "{}", digest.text());
        let long = "x".repeat(2_000);
        let ctx = ContextBuilder::new().logs("shop", "p", false, &[&long]).build();
        let digest = Digest::of(&ctx, &Redactor::default(), &ContextBudget::default());
        assert!(digest.lines().iter().all(|l| l.text.len() <= ContextBudget::default().max_line_chars));
    }
}
