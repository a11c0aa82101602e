//! `medic bench intake` measures what it claims: every alert it counts as acknowledged is in the store.
use medic::bench::intake::{IntakeBench, run};
use std::time::Duration;

#[actix_rt::test]
async fn every_acknowledged_alert_is_stored() {
    let bench = IntakeBench { senders: 8, alerts_per_body: 5, duration: Duration::from_secs(1) };
    let figures = run(&bench).await.expect("the bench runs");
    assert!(figures.alerts_acked > 0, "{figures}");
    assert_eq!(figures.errors, 0, "{figures}");
    assert_eq!(figures.alerts_stored, figures.alerts_acked, "{figures}");
    assert_eq!(figures.alerts_acked, figures.bodies * 5, "{figures}");
}
