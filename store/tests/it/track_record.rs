//! Specialist track records.
use medic_core::{IncidentUid, RootCauseClass};
use medic_store::Tally;

use crate::common::TestStore;

#[tokio::test]
async fn outcomes_count_per_specialist_and_class() {
    let t = TestStore::new();
    let incidents: Vec<_> = (0..4).map(|_| IncidentUid::new()).collect();
    let outcomes = [
        ("compute", 0, RootCauseClass::OomMemoryLimit, true),
        ("compute", 1, RootCauseClass::OomMemoryLimit, true),
        ("compute", 2, RootCauseClass::CrashTransient, false),
        ("network", 2, RootCauseClass::NetworkDegraded, true),
        ("network", 3, RootCauseClass::NetworkDegraded, false),
    ];
    for (specialist, i, class, confirmed) in outcomes {
        t.store.record_specialist_outcome(specialist, incidents[i], class, confirmed).await.unwrap();
    }
    // Recorded again (a replay after a restart): replaces, does not add.
    t.store.record_specialist_outcome("network", incidents[3], RootCauseClass::NetworkDegraded, true).await.unwrap();

    let compute = t.store.track_record("compute").await.unwrap();
    assert_eq!(compute.overall, Tally { confirmed: 2, refuted: 1 });
    assert_eq!(compute.class(RootCauseClass::OomMemoryLimit), Tally { confirmed: 2, refuted: 0 });
    assert_eq!(compute.class(RootCauseClass::CrashTransient), Tally { confirmed: 0, refuted: 1 });
    assert_eq!(compute.class(RootCauseClass::BadRollout), Tally::default());
    assert!((compute.overall.smoothed_accuracy() - 0.6).abs() < 1e-9);

    let all = t.store.track_records().await.unwrap();
    let names: Vec<_> = all.iter().map(|r| r.specialist.as_str()).collect();
    assert_eq!(names, ["compute", "network"]);
    assert_eq!(all[1].overall, Tally { confirmed: 2, refuted: 0 });

    let newcomer = t.store.track_record("database").await.unwrap();
    assert_eq!((newcomer.specialist.as_str(), newcomer.overall.total()), ("database", 0));
    assert_eq!(newcomer.overall.smoothed_accuracy(), 0.5);
}
