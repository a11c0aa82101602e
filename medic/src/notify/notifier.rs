//! The Notifier actor: turns incident events into Slack messages and delivers them through the store's
//! outbox.
//!
//! A `Notify` is rendered and queued in the outbox (one row per sink) before the handler answers, so a
//! message the Director was told is sent survives a crash or a Slack outage. A delivery loop sends what is
//! due: the outbox offers only the oldest unsent message of each incident, so an incident's messages
//! arrive in order however long Slack was away. A failed send is retried after a jittered exponential
//! back-off (or Slack's `Retry-After`), and each sink keeps its own order, so one sink that is down does not
//! hold back another; a message Slack refuses for its blocks is retried as plain text;
//! nothing is dropped. The first message a threading sink posts about an incident opens its thread (its
//! `ts` is kept in the store); every later one replies in it. Each delivery is an audit record. A
//! [`WritesNote`] (writes suspended or resumed) is about medic, not an incident: it is queued under
//! [`medic_wide`] and posted to the channel, never in a thread.
use actix::{Actor, AsyncContext, Context, Handler, Message as ActixMessage, ResponseFuture};
use medic_core::messages::Notify;
use medic_core::ports::Clock;
use medic_core::{AuditEntry, AuditKind, IncidentUid, PlanId};
use medic_slack::api::Failure;
use medic_slack::render::{render, render_verdict, render_writes};
use medic_slack::{Message, RenderOptions};
use medic_store::{OutboxMessage, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, warn};

use super::config::DeliveryConfig;
use super::sink::Sink;
use super::writes::{WritesNote, medic_wide};
use medic_core::Backoff;

const ACTOR: &str = "notifier";
/// How many due messages one pass of the delivery loop takes.
const BATCH: usize = 64;
/// How long a message for a sink that is no longer configured waits before it is looked at again.
const UNKNOWN_SINK_RETRY: Duration = Duration::from_secs(3600);
/// The prefix of `last_error` that makes the next attempt send the message as plain text.
const CONTENT_REFUSED: &str = "content refused";

/// A human's verdict on a plan, for the incident's thread (or why it was not applied).
#[derive(Debug, Clone, ActixMessage)]
#[rtype(result = "()")]
pub struct VerdictNote {
    pub incident: IncidentUid,
    pub plan: PlanId,
    pub approved: bool,
    pub by: String,
    /// Why the verdict was not applied (already decided, not an approver), when it was not.
    pub refused: Option<String>,
}

pub struct Notifier {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    clock: Arc<dyn Clock>,
    sinks: Vec<Sink>,
    options: RenderOptions,
    delivery: DeliveryConfig,
    backoff: Mutex<Backoff>,
    wake: tokio::sync::Notify,
}

impl Notifier {
    /// `options` carries the public URL and whether plans get buttons; the title is filled per incident.
    pub fn new(store: Store, sinks: Vec<Sink>, options: RenderOptions, delivery: DeliveryConfig) -> Self {
        let clock = store.clock().clone();
        let backoff = Backoff::new(
            Duration::from_millis(delivery.retry_initial_ms),
            Duration::from_secs(delivery.retry_max_secs),
        );
        Self {
            shared: Arc::new(Shared {
                store,
                clock,
                sinks,
                options,
                delivery,
                backoff: Mutex::new(backoff),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let shared = self.shared.clone();
        ctx.spawn(actix::fut::wrap_future(async move { shared.deliver_forever().await }));
    }
}

impl Handler<Notify> for Notifier {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Notify, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let options = shared.options_for(msg.incident).await;
            let message = render(msg.incident, &msg.event, &options);
            shared.enqueue(msg.incident, msg.event.kind(), &message).await;
        })
    }
}

impl Handler<VerdictNote> for Notifier {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: VerdictNote, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let options = shared.options_for(msg.incident).await;
            let message =
                render_verdict(msg.incident, msg.plan, msg.approved, &msg.by, msg.refused.as_deref(), &options);
            shared.enqueue(msg.incident, "verdict", &message).await;
        })
    }
}

impl Handler<WritesNote> for Notifier {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: WritesNote, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let message = render_writes(&msg.0, &shared.options);
            shared.enqueue(medic_wide(), msg.event(), &message).await;
        })
    }
}

/// Why the delivery loop stops: the store is closed (medic is stopping).
struct Stopped;

impl Shared {
    async fn options_for(&self, incident: IncidentUid) -> RenderOptions {
        let title = match self.store.incident(incident).await {
            Ok(found) => found.map(|i| i.title),
            Err(e) => {
                debug!(error = %e, "no incident title for the message");
                None
            }
        };
        RenderOptions { title, ..self.options.clone() }
    }

    async fn enqueue(&self, incident: IncidentUid, event: &str, message: &Message) {
        let payload = serde_json::json!({ "event": event, "message": message });
        for sink in &self.sinks {
            if let Err(e) = self.store.outbox_enqueue_for_sink(incident, sink.name.clone(), &payload).await {
                warn!(%incident, sink = %sink.name, event, error = %e, "could not queue a notification");
            }
        }
        self.wake.notify_one();
    }

    async fn deliver_forever(&self) {
        loop {
            match self.deliver_due().await {
                // Something went out: the next message of the same incident may be due at once.
                Ok(true) => continue,
                Ok(false) => {}
                Err(Stopped) => return,
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.delivery.poll_interval()) => {}
            }
        }
    }

    /// Sends every message that is due; true when at least one went out.
    async fn deliver_due(&self) -> Result<bool, Stopped> {
        let due = match self.store.outbox_due(BATCH, self.clock.now()).await {
            Ok(due) => due,
            Err(e) => {
                warn!(error = %e, "could not read the notification outbox");
                return Ok(false);
            }
        };
        let mut sent = false;
        for message in due {
            sent |= self.deliver(message).await?;
        }
        Ok(sent)
    }

    /// The clock time `delay` of real time from now (the lab's clock runs faster than the wall).
    fn after(&self, delay: Duration) -> jiff::Timestamp {
        let scaled = delay.mul_f64(self.clock.speed().max(0.0));
        let scaled = jiff::SignedDuration::try_from(scaled).unwrap_or(jiff::SignedDuration::MAX);
        self.clock.now().checked_add(scaled).unwrap_or(jiff::Timestamp::MAX)
    }

    async fn deliver(&self, queued: OutboxMessage) -> Result<bool, Stopped> {
        let incident = queued.incident;
        let about_incident = incident != medic_wide();
        let Some(sink) = self.sinks.iter().find(|s| s.name == queued.sink) else {
            warn!(%incident, sink = %queued.sink, "a queued notification names a sink that is not configured");
            self.failed(&queued, "sink not configured", UNKNOWN_SINK_RETRY).await?;
            return Ok(false);
        };
        let event = queued.payload.get("event").and_then(|e| e.as_str()).unwrap_or("message").to_string();
        let message: Message = match serde_json::from_value(queued.payload["message"].clone()) {
            Ok(message) => message,
            Err(e) => {
                // Unreadable (written by another version?): sent as a note rather than dropped.
                let text = format!("{}: a notification ({event}) could not be read: {e}", incident.short());
                Message { text, blocks: Vec::new() }
            }
        };
        let as_text = queued.last_error.as_deref().is_some_and(|e| e.starts_with(CONTENT_REFUSED));
        let message = if as_text { message.text_only() } else { message };
        let thread = if sink.threads() && about_incident {
            match self.store.notify_thread(incident, sink.name.clone()).await {
                Ok(thread) => thread,
                Err(e) => {
                    warn!(%incident, error = %e, "could not read the incident's thread");
                    self.failed(&queued, &format!("reading the thread: {e}"), Duration::from_secs(1)).await?;
                    return Ok(false);
                }
            }
        } else {
            None
        };
        match sink.send(&message, thread.as_ref().map(|t| t.ts.as_str())).await {
            Ok(delivered) => {
                let mut at = String::new();
                if let Some(posted) = delivered.posted {
                    at = format!(" (ts {})", posted.ts);
                    if sink.threads() && about_incident && thread.is_none() {
                        stop_on_closed(self.store.save_notify_thread(incident, sink.name.clone(), posted).await)?;
                    }
                }
                stop_on_closed(self.store.outbox_mark_sent(queued.id).await)?;
                let summary = format!("notified {}: {event}{at}", sink.name);
                let mut entry = AuditEntry::new(incident, AuditKind::Notified, ACTOR, summary)
                    .with_detail(serde_json::json!({ "sink": sink.name, "event": event, "outbox_id": queued.id,
                        "attempts": queued.attempts + 1, "as_text": as_text }));
                entry.at = self.clock.now();
                if !about_incident {
                    entry.incident = None;
                }
                if let Err(e) = self.store.append_audit(entry).await {
                    warn!(error = %e, "could not append to the audit trail");
                }
                debug!(%incident, sink = %sink.name, event, "notification delivered");
                Ok(true)
            }
            Err(error) => {
                let attempt = queued.attempts + 1;
                let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner()).delay(attempt);
                let mut delay = error.retry_after.unwrap_or(backoff);
                let label = match error.failure {
                    Failure::Content if !as_text => CONTENT_REFUSED,
                    Failure::Content | Failure::Transient => "failed",
                    Failure::Configuration => {
                        delay = delay.max(Duration::from_secs(self.delivery.misconfigured_retry_secs));
                        "misconfigured"
                    }
                };
                warn!(
                    %incident, sink = %sink.name, event, attempt, error = %error.reason, retry_in = ?delay,
                    "notification not delivered; it stays queued"
                );
                self.failed(&queued, &format!("{label}: {}", error.reason), delay).await?;
                Ok(false)
            }
        }
    }

    async fn failed(&self, queued: &OutboxMessage, reason: &str, delay: Duration) -> Result<(), Stopped> {
        stop_on_closed(self.store.outbox_mark_failed(queued.id, reason, self.after(delay)).await).map(|_| ())
    }
}

/// A store error other than "closed" is logged and the loop goes on; "closed" stops it.
fn stop_on_closed<T>(result: medic_store::Result<T>) -> Result<Option<T>, Stopped> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(medic_store::Error::Closed) => Err(Stopped),
        Err(e) => {
            warn!(error = %e, "the notification outbox could not be updated");
            Ok(None)
        }
    }
}
