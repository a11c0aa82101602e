//! Any bytes as the body of each webhook receiver (Alertmanager v4, GoAlert, generic JSON): parsing may
//! refuse the body, never panic, and an accepted alert is coherent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medic_collector::intake::{alertmanager, generic, goalert};

fuzz_target!(|data: &[u8]| {
    let received_at: jiff::Timestamp = "2026-03-01T12:00:00Z".parse().expect("a fixed instant");
    for alerts in [alertmanager::parse(data), goalert::parse(data, received_at), generic::parse(data)] {
        if let Ok(alerts) = alerts {
            for alert in alerts {
                assert!(!alert.fingerprint.is_empty(), "an alert without a fingerprint");
                if let Some(ends_at) = alert.ends_at {
                    let _ = ends_at.duration_since(alert.starts_at);
                }
            }
        }
    }
});
