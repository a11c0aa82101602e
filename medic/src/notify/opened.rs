//! Announces each new incident before its context is collected: an `OpenIncident` from intake becomes a
//! `Notify { Opened }` (queued first, so "opened" is the first message of the incident's thread), then goes
//! on unchanged to the ContextCollector.
use actix::{Actor, Context, Handler, Recipient, ResponseFuture};
use medic_core::messages::{IncidentEvent, Notify, OpenIncident};
use tracing::warn;

pub struct OpenedAnnouncer {
    notify: Recipient<Notify>,
    next: Recipient<OpenIncident>,
}

impl OpenedAnnouncer {
    /// `notify` is the Notifier; `next` the ContextCollector.
    pub fn new(notify: Recipient<Notify>, next: Recipient<OpenIncident>) -> Self {
        Self { notify, next }
    }
}

impl Actor for OpenedAnnouncer {
    type Context = Context<Self>;
}

impl Handler<OpenIncident> for OpenedAnnouncer {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: OpenIncident, _ctx: &mut Self::Context) -> Self::Result {
        let notify = self.notify.clone();
        let next = self.next.clone();
        Box::pin(async move {
            if let Some(alert) = msg.alerts.first() {
                let event = IncidentEvent::Opened { alert: Box::new(alert.clone()) };
                if let Err(e) = notify.send(Notify { incident: msg.incident, event }).await {
                    warn!(incident = %msg.incident, error = %e, "notifier unavailable");
                }
            }
            // do_send: a burst of new incidents must not be refused at a full mailbox.
            next.do_send(msg);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Addr;
    use medic_core::IncidentUid;
    use medic_core::testkit::alert;
    use std::sync::{Arc, Mutex};

    /// Records, in one list, what each mailbox received.
    #[derive(Clone, Default)]
    struct Probe(Arc<Mutex<Vec<String>>>);
    impl Actor for Probe {
        type Context = Context<Self>;
    }
    impl Handler<Notify> for Probe {
        type Result = ();
        fn handle(&mut self, msg: Notify, _: &mut Self::Context) {
            self.0.lock().unwrap().push(format!("notify {} {}", msg.event.kind(), msg.incident.short()));
        }
    }
    impl Handler<OpenIncident> for Probe {
        type Result = ();
        fn handle(&mut self, msg: OpenIncident, _: &mut Self::Context) {
            self.0.lock().unwrap().push(format!("collect {}", msg.incident.short()));
        }
    }

    #[actix::test]
    async fn the_opened_message_is_queued_before_the_incident_goes_on() {
        let probe = Probe::default();
        let seen = probe.0.clone();
        let addr: Addr<Probe> = probe.start();
        let announcer = OpenedAnnouncer::new(addr.clone().recipient(), addr.recipient()).start();
        let incident = IncidentUid::new();
        let alerts = vec![alert("KubePodCrashLooping", &[("namespace", "shop")])];
        announcer.send(OpenIncident { incident, alerts }).await.unwrap();
        let quiet = IncidentUid::new();
        announcer.send(OpenIncident { incident: quiet, alerts: vec![] }).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let short = incident.short();
        assert_eq!(
            *seen.lock().unwrap(),
            [format!("notify opened {short}"), format!("collect {short}"), format!("collect {}", quiet.short())]
        );
    }
}
