//! The watchtower: when the reasoning backend answers slower than the threshold (60 s by default) or
//! fails several times in a row, medic goes monitor-only — every write is suspended (the executor asks
//! this [`WriteGate`] before each plan and answers `Suspended`), while diagnosis and reporting go on. The
//! backend is then probed with jittered exponential back-off, and prompt answers in a row release it.
//! Every change is logged, written to the audit trail and published to subscribers: the status to
//! `/v1/health`, each transition, in order, to the notifier (Slack).
use futures::future::BoxFuture;
use jiff::Timestamp;
use medic_core::ports::{AuditSink, Clock, SystemClock, WriteGate};
use medic_core::{AuditEntry, AuditKind};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

use crate::llm::config::WatchtowerConfig;
use medic_core::Backoff;

const ACTOR: &str = "watchtower";

/// One answer (or failure) of the reasoning backend, as the watchtower judges it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub model: &'a str,
    pub latency: Duration,
    /// Why the request failed; `None` when the model answered.
    pub error: Option<&'a str>,
}

/// A probe of the backend while writes are suspended: the model asked, how long it took, and whether it answered.
pub type ProbeOutcome = (String, Duration, Result<(), String>);
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, ProbeOutcome> + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Writes {
    Enabled,
    Suspended,
}

/// The last answer the watchtower saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAnswer {
    pub model: String,
    pub latency_ms: u64,
    pub ok: bool,
    pub at: Timestamp,
}

/// What `/v1/health` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchtowerStatus {
    pub writes: Writes,
    /// Why writes are suspended.
    pub reason: Option<String>,
    pub since: Option<Timestamp>,
    pub slow_after_secs: f64,
    pub consecutive_failures: u32,
    pub last_answer: Option<LastAnswer>,
    /// How many times writes were suspended since medic started.
    pub engagements: u64,
}

/// One suspension or resumption of writes, as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// `Suspended` when writes were suspended, `Enabled` when they resumed.
    pub writes: Writes,
    /// Why writes were suspended, or why they resume.
    pub reason: String,
    pub at: Timestamp,
    /// When the suspension that ends here began (a resumption only).
    pub suspended_since: Option<Timestamp>,
}

/// How many transitions a slow subscriber may fall behind before it misses some.
const TRANSITIONS_BUFFERED: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    /// Why and since when writes are suspended.
    engaged: Option<(String, Timestamp)>,
    consecutive_failures: u32,
    consecutive_healthy: u32,
    last: Option<LastAnswer>,
    engagements: u64,
    probing: bool,
}

pub struct Watchtower {
    config: WatchtowerConfig,
    inner: Mutex<Inner>,
    status: watch::Sender<WatchtowerStatus>,
    transitions: broadcast::Sender<Transition>,
    audit: Option<Arc<dyn AuditSink>>,
    clock: Arc<dyn Clock>,
    probe: OnceLock<Probe>,
    this: Weak<Watchtower>,
}

impl std::fmt::Debug for Watchtower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchtower").field("status", &self.status()).finish_non_exhaustive()
    }
}

enum Change {
    Engaged(String),
    /// Why, and since when writes were suspended.
    Released(String, Timestamp),
}

impl Watchtower {
    pub fn new(config: WatchtowerConfig) -> Arc<Watchtower> {
        Self::with(config, None, Arc::new(SystemClock))
    }

    /// A watchtower that writes its changes to `audit`, stamped with `clock`.
    pub fn with(config: WatchtowerConfig, audit: Option<Arc<dyn AuditSink>>, clock: Arc<dyn Clock>) -> Arc<Watchtower> {
        let initial = WatchtowerStatus {
            writes: Writes::Enabled,
            reason: None,
            since: None,
            slow_after_secs: config.slow_after_secs,
            consecutive_failures: 0,
            last_answer: None,
            engagements: 0,
        };
        Arc::new_cyclic(|this| Watchtower {
            config,
            inner: Mutex::new(Inner::default()),
            status: watch::channel(initial).0,
            transitions: broadcast::channel(TRANSITIONS_BUFFERED).0,
            audit,
            clock,
            probe: OnceLock::new(),
            this: this.clone(),
        })
    }

    /// How the backend is probed while writes are suspended (set once, by the reasoner).
    pub fn set_probe(&self, probe: Probe) {
        let _ = self.probe.set(probe);
    }

    pub fn status(&self) -> WatchtowerStatus {
        self.status.borrow().clone()
    }

    /// Every change of the status, as it happens.
    pub fn subscribe(&self) -> watch::Receiver<WatchtowerStatus> {
        self.status.subscribe()
    }

    /// Every suspension and resumption from now on, in order (unlike [`Watchtower::subscribe`], which
    /// keeps only the latest status).
    pub fn transitions(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }

    pub fn is_engaged(&self) -> bool {
        self.lock().engaged.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Judges one answer of the backend.
    pub fn observe(&self, o: Observation<'_>) {
        let now = self.clock.now();
        let slow_after = self.config.slow_after();
        let secs = o.latency.as_secs_f64();
        let change = {
            let mut inner = self.lock();
            inner.last = Some(LastAnswer {
                model: o.model.to_string(),
                latency_ms: o.latency.as_millis().min(u128::from(u64::MAX)) as u64,
                ok: o.error.is_none(),
                at: now,
            });
            let trouble = match o.error {
                Some(error) => {
                    inner.consecutive_failures += 1;
                    inner.consecutive_healthy = 0;
                    if o.latency >= slow_after {
                        Some(format!(
                            "{} gave no answer for {secs:.1} s, longer than the {:.0} s threshold ({error})",
                            o.model, self.config.slow_after_secs
                        ))
                    } else if inner.consecutive_failures >= self.config.failures {
                        Some(format!(
                            "{} requests to the reasoning backend failed in a row (last, {}: {error})",
                            inner.consecutive_failures, o.model
                        ))
                    } else {
                        None
                    }
                }
                None if o.latency >= slow_after => {
                    inner.consecutive_failures = 0;
                    inner.consecutive_healthy = 0;
                    Some(format!(
                        "{} answered in {secs:.1} s, slower than the {:.0} s threshold",
                        o.model, self.config.slow_after_secs
                    ))
                }
                None => {
                    inner.consecutive_failures = 0;
                    inner.consecutive_healthy += 1;
                    None
                }
            };
            match (trouble, inner.engaged.is_some()) {
                (Some(reason), false) => {
                    inner.engaged = Some((reason.clone(), now));
                    inner.engagements += 1;
                    Some(Change::Engaged(reason))
                }
                (None, true) if inner.consecutive_healthy >= self.config.recover_after => {
                    let since = inner.engaged.take().map_or(now, |(_, since)| since);
                    let reason = format!(
                        "{} answered in {secs:.1} s, {} prompt answers in a row",
                        o.model, inner.consecutive_healthy
                    );
                    Some(Change::Released(reason, since))
                }
                _ => None,
            }
        };
        self.publish();
        match change {
            Some(Change::Engaged(reason)) => {
                tracing::warn!(%reason, "watchtower: writes suspended, medic is monitor-only until the reasoning backend recovers");
                self.record(AuditKind::WatchtowerEngaged, format!("writes suspended: {reason}"));
                // No subscriber is not an error: the transition is in the log and the audit trail.
                let _ = self.transitions.send(Transition {
                    writes: Writes::Suspended,
                    reason,
                    at: now,
                    suspended_since: None,
                });
                self.start_probing();
            }
            Some(Change::Released(reason, since)) => {
                tracing::info!(%reason, "watchtower: the reasoning backend recovered, writes resume");
                self.record(AuditKind::WatchtowerReleased, format!("writes resume: {reason}"));
                let _ = self.transitions.send(Transition {
                    writes: Writes::Enabled,
                    reason,
                    at: now,
                    suspended_since: Some(since),
                });
            }
            None => {}
        }
    }

    fn publish(&self) {
        let status = {
            let inner = self.lock();
            WatchtowerStatus {
                writes: if inner.engaged.is_some() { Writes::Suspended } else { Writes::Enabled },
                reason: inner.engaged.as_ref().map(|(r, _)| r.clone()),
                since: inner.engaged.as_ref().map(|(_, s)| *s),
                slow_after_secs: self.config.slow_after_secs,
                consecutive_failures: inner.consecutive_failures,
                last_answer: inner.last.clone(),
                engagements: inner.engagements,
            }
        };
        self.status.send_replace(status);
    }

    fn record(&self, kind: AuditKind, summary: String) {
        let Some(audit) = self.audit.clone() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let mut entry =
            AuditEntry::new(medic_core::IncidentUid::default(), kind, ACTOR, summary).with_detail(self.status());
        entry.incident = None;
        entry.at = self.clock.now();
        runtime.spawn(async move {
            if let Err(e) = audit.append(entry).await {
                tracing::warn!(error = %e, "could not record the watchtower's change");
            }
        });
    }

    /// Probes the backend with jittered exponential back-off until it is released.
    fn start_probing(&self) {
        let Some(probe) = self.probe.get().cloned() else { return };
        let Some(this) = self.this.upgrade() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        {
            let mut inner = self.lock();
            if inner.probing {
                return;
            }
            inner.probing = true;
        }
        let initial = Duration::from_millis(self.config.probe_backoff_ms);
        let max = Duration::from_secs_f64(self.config.probe_backoff_max_secs);
        runtime.spawn(async move {
            let mut backoff = Backoff::new(initial, max);
            let mut attempt = 0;
            while this.is_engaged() {
                attempt += 1;
                tokio::time::sleep(backoff.delay(attempt)).await;
                if !this.is_engaged() {
                    break;
                }
                let (model, latency, outcome) = probe().await;
                let error = outcome.err();
                tracing::debug!(%model, ?latency, ?error, attempt, "watchtower probe");
                this.observe(Observation { model: &model, latency, error: error.as_deref() });
            }
            this.lock().probing = false;
        });
    }
}

impl WriteGate for Watchtower {
    fn suspended(&self) -> Option<String> {
        self.lock().engaged.as_ref().map(|(reason, _)| format!("watchtower: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WatchtowerConfig {
        WatchtowerConfig {
            slow_after_secs: 1.0,
            failures: 3,
            recover_after: 2,
            probe_backoff_ms: 10,
            probe_backoff_max_secs: 0.05,
        }
    }

    fn answered(ms: u64) -> Observation<'static> {
        Observation { model: "m", latency: Duration::from_millis(ms), error: None }
    }

    fn failed(ms: u64) -> Observation<'static> {
        Observation { model: "m", latency: Duration::from_millis(ms), error: Some("connection refused") }
    }

    #[test]
    fn slowness_and_repeated_failures_suspend_writes_and_prompt_answers_resume_them() {
        // (observations, suspended after them)
        let cases: Vec<(Vec<Observation<'static>>, bool)> = vec![
            (vec![answered(200)], false),
            (vec![answered(1_500)], true),
            (vec![failed(10), failed(10)], false),
            (vec![failed(10), failed(10), failed(10)], true),
            (vec![failed(10), failed(10), answered(10), failed(10)], false),
            (vec![failed(1_200)], true),
            (vec![answered(1_500), answered(100)], true),
            (vec![answered(1_500), answered(100), answered(100)], false),
            (vec![answered(1_500), answered(100), failed(5), answered(100)], true),
            (vec![failed(5), failed(5), failed(5), answered(100), answered(100)], false),
        ];
        for (i, (observations, suspended)) in cases.into_iter().enumerate() {
            let w = Watchtower::new(config());
            for o in observations {
                w.observe(o);
            }
            assert_eq!(w.suspended().is_some(), suspended, "case {i}: {:?}", w.status());
            assert_eq!(w.status().writes == Writes::Suspended, suspended, "case {i}");
        }
    }

    #[test]
    fn the_status_says_why_and_counts_engagements() {
        let w = Watchtower::new(config());
        let mut changes = w.subscribe();
        w.observe(Observation { model: "qwen2.5:7b", latency: Duration::from_millis(2_500), error: None });
        let status = changes.borrow_and_update().clone();
        assert_eq!(status.writes, Writes::Suspended);
        let reason = status.reason.unwrap();
        assert!(reason.contains("qwen2.5:7b answered in 2.5 s, slower than the 1 s threshold"), "{reason}");
        assert!(w.suspended().unwrap().starts_with("watchtower: "));
        w.observe(answered(10));
        w.observe(answered(10));
        w.observe(answered(3_000));
        assert_eq!(w.status().engagements, 2);
        let json = serde_json::to_value(w.status()).unwrap();
        assert_eq!(json["writes"], "suspended");
        assert_eq!(json["last_answer"]["latency_ms"], 3000);
    }

    #[test]
    fn every_transition_reaches_subscribers_in_order_with_its_reason() {
        let w = Watchtower::new(config());
        let mut transitions = w.transitions();
        // Suspended, resumed, suspended again at once: the status alone would show only the last.
        for o in [answered(1_500), answered(10), answered(10), failed(1_200)] {
            w.observe(o);
        }
        let seen: Vec<Transition> = std::iter::from_fn(|| transitions.try_recv().ok()).collect();
        let summary: Vec<(Writes, bool)> = seen.iter().map(|t| (t.writes, t.suspended_since.is_some())).collect();
        assert_eq!(summary, [(Writes::Suspended, false), (Writes::Enabled, true), (Writes::Suspended, false)]);
        assert!(seen[0].reason.contains("slower than the 1 s threshold"), "{seen:?}");
        assert!(seen[1].reason.contains("2 prompt answers in a row"), "{seen:?}");
        assert_eq!(seen[1].suspended_since, Some(seen[0].at));
        assert!(seen[2].reason.contains("gave no answer for 1.2 s"), "{seen:?}");
    }

    #[tokio::test]
    async fn a_suspended_watchtower_probes_until_the_backend_answers_promptly() {
        let w = Watchtower::new(config());
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = calls.clone();
        w.set_probe(Arc::new(move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                // Two more failures, then prompt answers.
                let outcome = if n < 2 { Err("connection refused".to_string()) } else { Ok(()) };
                ("m".to_string(), Duration::from_millis(5), outcome)
            })
        }));
        for _ in 0..3 {
            w.observe(failed(5));
        }
        assert!(w.suspended().is_some());
        let mut changes = w.subscribe();
        tokio::time::timeout(Duration::from_secs(5), changes.wait_for(|s| s.writes == Writes::Enabled))
            .await
            .expect("released within 5 s")
            .unwrap();
        assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 4, "two failed probes, then two good ones");
        assert!(w.suspended().is_none());
    }
}
