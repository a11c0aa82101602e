//! Tells people when the watchtower suspends every write and when writes resume: each transition becomes
//! one [`WritesNote`] for the Notifier, which queues it in the outbox for every sink like an incident
//! message (so a Slack outage delays it but never loses it) and posts it to the channel, not to a thread.
//!
//! The outbox orders messages per incident and sink; these belong to no incident, so they are queued under
//! [`medic_wide`], a key no incident has (the nil UUID), and keep their own order per sink.
use actix::{Message as ActixMessage, Recipient};
use medic_agents::llm::{Transition, Writes};
use medic_core::IncidentUid;
use medic_slack::render::WritesChange;
use std::sync::LazyLock;
use tokio::sync::broadcast;
use tracing::warn;

/// A suspension or resumption of writes, for Slack.
#[derive(Debug, Clone, ActixMessage)]
#[rtype(result = "()")]
pub struct WritesNote(pub WritesChange);

impl WritesNote {
    /// The event name in the outbox and the audit trail.
    pub fn event(&self) -> &'static str {
        match self.0 {
            WritesChange::Suspended { .. } => "writes_suspended",
            WritesChange::Resumed { .. } => "writes_resumed",
        }
    }
}

impl From<Transition> for WritesNote {
    fn from(t: Transition) -> Self {
        WritesNote(match t.writes {
            Writes::Suspended => WritesChange::Suspended { reason: t.reason, since: t.at },
            Writes::Enabled => WritesChange::Resumed { reason: t.reason, suspended_since: t.suspended_since, at: t.at },
        })
    }
}

/// The outbox key of messages about medic itself rather than one incident.
pub fn medic_wide() -> IncidentUid {
    static NIL: LazyLock<IncidentUid> =
        LazyLock::new(|| "00000000-0000-0000-0000-000000000000".parse().expect("the nil UUID is an incident uid"));
    *NIL
}

/// Forwards every transition of the watchtower to the Notifier, in order, until medic stops.
pub fn announce_writes(mut transitions: broadcast::Receiver<Transition>, notifier: Recipient<WritesNote>) {
    actix_rt::spawn(async move {
        loop {
            let note = match transitions.recv().await {
                Ok(transition) => WritesNote::from(transition),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    warn!(missed, "some suspensions or resumptions of writes were not announced in Slack");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let event = note.event();
            // `send` waits until the note is queued, so the next one is queued after it.
            if let Err(e) = notifier.send(note).await {
                warn!(event, error = %e, "notifier unavailable: a change of writes was not announced in Slack");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_become_suspended_then_resumed_notes() {
        let since: jiff::Timestamp = "2026-11-22T19:04:12Z".parse().unwrap();
        let at: jiff::Timestamp = "2026-11-22T19:05:00Z".parse().unwrap();
        let suspended = WritesNote::from(Transition {
            writes: Writes::Suspended,
            reason: "slow".into(),
            at: since,
            suspended_since: None,
        });
        assert_eq!(suspended.event(), "writes_suspended");
        assert_eq!(suspended.0, WritesChange::Suspended { reason: "slow".into(), since });
        let resumed = WritesNote::from(Transition {
            writes: Writes::Enabled,
            reason: "prompt".into(),
            at,
            suspended_since: Some(since),
        });
        assert_eq!(resumed.event(), "writes_resumed");
        assert_eq!(resumed.0, WritesChange::Resumed { reason: "prompt".into(), suspended_since: Some(since), at });
        assert_ne!(medic_wide(), IncidentUid::new());
        assert_eq!(medic_wide(), medic_wide());
    }
}
