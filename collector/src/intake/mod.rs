//! Webhook intake: authentication, strict parsing, persistence, and handing new incidents on.
//!
//! [`Intake::receive`] is what the HTTP layer calls for `POST /v1/webhooks/{alertmanager,goalert,generic}`:
//! it authenticates the sender, bounds and parses the body, stores the alerts through
//! [`medic_store::Store::ingest`] (deduplicated by fingerprint + startsAt, grouped into incidents) and only
//! then answers. After the commit it sends `OpenIncident` for every incident the alerts opened and
//! `AlertResolved` for every resolution of an alert that belongs to an incident.
pub mod alertmanager;
pub mod auth;
pub mod generic;
pub mod goalert;
mod json;

use actix::Recipient;
use jiff::Timestamp;
use medic_core::messages::{AlertResolved, OpenIncident};
use medic_core::ports::{Clock, SystemClock};
use medic_core::{Alert, AlertSource, IncidentUid};
use medic_store::{IngestOutcome, Store};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::error::{Error, IntakeError, Result};

pub use auth::{AuthConfig, Authenticator, Secret};
pub use json::label_fingerprint;

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

/// One receiver's settings (`[intake.alertmanager]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub auth: AuthConfig,
}

/// `[intake]` in medic's configuration. A receiver that is not configured is disabled (404).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Bodies larger than this are refused with 413 (Alertmanager's `max_alerts` keeps its bodies small).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<ReceiverConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goalert: Option<ReceiverConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<ReceiverConfig>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self { max_body_bytes: default_max_body_bytes(), alertmanager: None, goalert: None, generic: None }
    }
}

/// Where an accepted webhook's consequences go.
#[derive(Clone)]
pub struct IntakeOutputs {
    /// The ContextCollector: one `OpenIncident` per incident the alerts opened.
    pub open_incident: Recipient<OpenIncident>,
    /// Whoever follows an incident to its end (the Director): one `AlertResolved` per resolution.
    pub alert_resolved: Recipient<AlertResolved>,
}

impl IntakeConfig {
    pub fn validate(&self) -> Result<()> {
        const MIN: usize = 1024;
        const MAX: usize = 64 * 1024 * 1024;
        if !(MIN..=MAX).contains(&self.max_body_bytes) {
            return Err(Error::Config(format!(
                "intake.max_body_bytes is {}; it must be between {MIN} and {MAX}",
                self.max_body_bytes
            )));
        }
        Ok(())
    }

    /// Validates the config, resolves the receivers' secrets (from the environment where the config says
    /// so) and builds the intake on the wall clock.
    pub fn build(&self, store: Store, outputs: IntakeOutputs) -> Result<Intake> {
        self.build_with(store, outputs, Arc::new(SystemClock), |var| std::env::var(var).ok())
    }

    /// As [`IntakeConfig::build`], with the clock medic runs on and the environment as a function.
    pub fn build_with(
        &self,
        store: Store,
        outputs: IntakeOutputs,
        clock: Arc<dyn Clock>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Intake> {
        self.validate()?;
        let build = |name: &str, receiver: &Option<ReceiverConfig>| -> Result<Option<Authenticator>> {
            receiver.as_ref().map(|r| r.auth.build_with_env(&format!("intake.{name}"), &env)).transpose()
        };
        Ok(Intake {
            store,
            alertmanager: build("alertmanager", &self.alertmanager)?,
            goalert: build("goalert", &self.goalert)?,
            generic: build("generic", &self.generic)?,
            max_body_bytes: self.max_body_bytes,
            outputs,
            clock,
            goalert_first_seen: Mutex::new(FirstSeen::default()),
        })
    }
}

/// What the sender is told when its alerts were stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeAck {
    /// Alerts in the body.
    pub received: usize,
    /// Alerts stored for the first time.
    pub new: usize,
    /// Redeliveries that changed nothing.
    pub duplicates: usize,
    /// Resolutions recorded.
    pub resolved: usize,
    /// Incidents these alerts opened.
    pub opened: Vec<IncidentUid>,
    /// Every incident the alerts belong to.
    pub incidents: Vec<IncidentUid>,
}

impl IntakeAck {
    fn from_outcome(outcome: &IngestOutcome) -> Self {
        let mut incidents: Vec<IncidentUid> = Vec::new();
        for uid in outcome.alerts.iter().filter_map(|a| a.incident) {
            if !incidents.contains(&uid) {
                incidents.push(uid);
            }
        }
        Self {
            received: outcome.alerts.len(),
            new: outcome.alerts.iter().filter(|a| a.new_alert).count(),
            duplicates: outcome.duplicates(),
            resolved: outcome.alerts.iter().filter(|a| a.resolved).count(),
            opened: outcome.new_incidents(),
            incidents,
        }
    }
}

/// How many GoAlert alerts' first-seen times are remembered.
const FIRST_SEEN_CAPACITY: usize = 10_000;

/// GoAlert sends no start time; the first time medic saw an alert id stands for it, so a re-notification
/// (an escalation step, a retry) is the same alert. Bounded: the oldest ids are forgotten first.
#[derive(Debug, Default)]
struct FirstSeen {
    at: HashMap<String, Timestamp>,
    order: VecDeque<String>,
}

impl FirstSeen {
    fn get_or_insert(&mut self, fingerprint: &str, now: Timestamp) -> Timestamp {
        if let Some(at) = self.at.get(fingerprint) {
            return *at;
        }
        if self.order.len() >= FIRST_SEEN_CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.at.remove(&oldest);
        }
        self.at.insert(fingerprint.to_string(), now);
        self.order.push_back(fingerprint.to_string());
        now
    }
}

/// The intake service. Shared by the HTTP handlers (`Arc<Intake>`).
pub struct Intake {
    store: Store,
    alertmanager: Option<Authenticator>,
    goalert: Option<Authenticator>,
    generic: Option<Authenticator>,
    max_body_bytes: usize,
    outputs: IntakeOutputs,
    clock: Arc<dyn Clock>,
    goalert_first_seen: Mutex<FirstSeen>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("alertmanager", &self.alertmanager)
            .field("goalert", &self.goalert)
            .field("generic", &self.generic)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Intake {
    /// The body-size limit, for the HTTP layer to enforce while reading the body.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The HTTP layer's check of the `Content-Type` header: JSON (or none, as curl sends with `-d @file`
    /// only when told otherwise) is accepted, anything else is 415.
    pub fn check_content_type(content_type: Option<&str>) -> Result<(), IntakeError> {
        let Some(value) = content_type else { return Ok(()) };
        let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
            Ok(())
        } else {
            Err(IntakeError::UnsupportedMediaType(value.to_string()))
        }
    }

    fn authenticator(&self, source: AlertSource) -> Result<&Authenticator, IntakeError> {
        let receiver = match source {
            AlertSource::Alertmanager => &self.alertmanager,
            AlertSource::Goalert => &self.goalert,
            AlertSource::Generic => &self.generic,
            AlertSource::Watch => &None,
        };
        receiver.as_ref().ok_or(IntakeError::ReceiverDisabled(source.as_str()))
    }

    /// Authenticates, parses and stores one webhook, then hands its new incidents and resolutions on.
    /// Returns only after the alerts are durable; on an error nothing was stored.
    pub async fn receive(
        &self,
        source: AlertSource,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<IntakeAck, IntakeError> {
        let result = self.receive_inner(source, authorization, body).await;
        match &result {
            Ok(ack) => tracing::debug!(%source, received = ack.received, new = ack.new, duplicates = ack.duplicates,
                opened = ack.opened.len(), "webhook accepted"),
            Err(e) => tracing::info!(%source, status = e.status(), reason = %e, "webhook refused"),
        }
        result
    }

    async fn receive_inner(
        &self,
        source: AlertSource,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<IntakeAck, IntakeError> {
        self.authenticator(source)?.check(authorization)?;
        if body.len() > self.max_body_bytes {
            return Err(IntakeError::TooLarge { size: body.len(), limit: self.max_body_bytes });
        }
        let alerts = self.parse(source, body)?;
        if alerts.is_empty() {
            return Ok(IntakeAck::default());
        }
        let outcome = self.store.ingest(alerts).await.map_err(|e| {
            tracing::error!(%source, error = %e, "storing alerts failed");
            IntakeError::Unavailable(e.to_string())
        })?;
        self.hand_on(&outcome);
        Ok(IntakeAck::from_outcome(&outcome))
    }

    fn parse(&self, source: AlertSource, body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
        match source {
            AlertSource::Alertmanager => alertmanager::parse(body),
            AlertSource::Generic => generic::parse(body),
            AlertSource::Goalert => {
                let now = self.clock.now();
                let mut alerts = goalert::parse(body, now)?;
                let mut first_seen = self.goalert_first_seen.lock().unwrap_or_else(|p| p.into_inner());
                for alert in &mut alerts {
                    alert.starts_at = first_seen.get_or_insert(&alert.fingerprint, now);
                }
                Ok(alerts)
            }
            AlertSource::Watch => Err(IntakeError::ReceiverDisabled(source.as_str())),
        }
    }

    /// After the commit: the collector hears of each new incident, the follower of each resolution.
    fn hand_on(&self, outcome: &IngestOutcome) {
        for incident in outcome.new_incidents() {
            let span = tracing::info_span!("incident", incident = %incident);
            let _entered = span.enter();
            let alerts: Vec<Alert> = outcome.alerts_of(incident).map(|a| a.alert.clone()).collect();
            tracing::info!(alerts = alerts.len(), first = %alerts.first().map_or("", |a| a.name.as_str()), "incident opened");
            // do_send, not try_send: a burst of incidents must not be dropped at a full mailbox.
            if self.outputs.open_incident.connected() {
                self.outputs.open_incident.do_send(OpenIncident { incident, alerts });
            } else {
                tracing::error!("the collector is gone: the new incident waits in the store");
            }
        }
        for resolved in outcome.alerts.iter().filter(|a| a.resolved) {
            let Some(incident) = resolved.incident else { continue };
            let span = tracing::info_span!("incident", incident = %incident);
            let _entered = span.enter();
            tracing::info!(alert = %resolved.alert.name, fingerprint = %resolved.alert.fingerprint, "alert resolved");
            if self.outputs.alert_resolved.connected() {
                self.outputs.alert_resolved.do_send(AlertResolved { incident, alert: resolved.alert.clone() });
            } else {
                tracing::error!("nobody follows the incident: the resolution waits in the store");
            }
        }
    }
}

#[cfg(test)]
mod tests;
