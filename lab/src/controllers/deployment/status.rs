//! A Deployment's status and its conditions (`calculateStatus` and `syncRolloutStatus`).
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_REPLICA_SET_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_REPLICA_SET: &str = "FoundNewReplicaSet";
pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_REPLICA_SET_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
pub const DEPLOYMENT_PAUSED: &str = "DeploymentPaused";
pub const DEPLOYMENT_RESUMED: &str = "DeploymentResumed";

pub fn condition(type_: &str, status: &str, reason: &str, message: String, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(second(now))),
        last_transition_time: Some(Time(second(now))),
    }
}

fn second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_.as_deref() == Some(type_))
}

/// `SetDeploymentCondition`: same status and reason is no change at all; same status keeps the
/// transition time; the condition moves to the end of the list.
pub fn set(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    let type_ = condition.type_.clone().unwrap_or_default();
    if let Some(current) = get(status, &type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &type_);
    status.conditions.get_or_insert_with(Vec::new).push(condition);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

/// The numbers the status is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub desired: i32,
    pub max_unavailable: i32,
    /// Sum of the ReplicaSets' `spec.replicas` after this sync's scaling.
    pub all_desired: i32,
    /// Sums of the ReplicaSets' status.
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    pub generation: i64,
}

/// `calculateStatus`: counts and the Available condition, keeping the other conditions.
pub fn calculate(previous: &DeploymentStatus, counts: &Counts, now: Timestamp) -> DeploymentStatus {
    let mut status = DeploymentStatus {
        observed_generation: Some(counts.generation),
        replicas: Some(counts.replicas),
        updated_replicas: Some(counts.updated),
        ready_replicas: Some(counts.ready),
        available_replicas: Some(counts.available),
        unavailable_replicas: Some((counts.all_desired - counts.available).max(0)),
        collision_count: previous.collision_count,
        conditions: previous.conditions.clone(),
        terminating_replicas: None,
    };
    if counts.available >= counts.desired - counts.max_unavailable {
        set(
            &mut status,
            condition(
                AVAILABLE,
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set(
            &mut status,
            condition(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    status
}

fn complete(desired: i32, generation: i64, status: &DeploymentStatus) -> bool {
    status.updated_replicas == Some(desired)
        && status.replicas == Some(desired)
        && status.available_replicas == Some(desired)
        && status.observed_generation.unwrap_or(0) >= generation
}

fn progressing(previous: &DeploymentStatus, next: &DeploymentStatus) -> bool {
    let old_replicas = |s: &DeploymentStatus| s.replicas.unwrap_or(0) - s.updated_replicas.unwrap_or(0);
    next.updated_replicas.unwrap_or(0) > previous.updated_replicas.unwrap_or(0)
        || old_replicas(next) < old_replicas(previous)
        || next.ready_replicas.unwrap_or(0) > previous.ready_replicas.unwrap_or(0)
        || next.available_replicas.unwrap_or(0) > previous.available_replicas.unwrap_or(0)
}

fn timed_out(status: &DeploymentStatus, deadline_seconds: i32, now: Timestamp) -> bool {
    let Some(current) = get(status, PROGRESSING) else { return false };
    if current.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED) {
        return true;
    }
    current
        .last_update_time
        .as_ref()
        .is_some_and(|from| from.0 + SignedDuration::from_secs(i64::from(deadline_seconds)) < now)
}

/// `syncRolloutStatus`'s progress estimate: complete, progressing, or past the deadline.
pub fn estimate_progress(
    previous: &DeploymentStatus,
    next: &mut DeploymentStatus,
    counts: &Counts,
    deadline_seconds: Option<i32>,
    new_rs_name: Option<&str>,
    deployment_name: &str,
    now: Timestamp,
) {
    let Some(deadline) = deadline_seconds else { return };
    let current = get(next, PROGRESSING).cloned();
    let finished = next.replicas == next.updated_replicas
        && current.as_ref().is_some_and(|c| c.reason.as_deref() == Some(NEW_REPLICA_SET_AVAILABLE));
    if finished {
        return;
    }
    let subject = match new_rs_name {
        Some(rs) => format!("ReplicaSet \"{rs}\""),
        None => format!("Deployment \"{deployment_name}\""),
    };
    if complete(counts.desired, counts.generation, next) {
        let message = format!("{subject} has successfully progressed.");
        set(next, condition(PROGRESSING, "True", NEW_REPLICA_SET_AVAILABLE, message, now));
    } else if progressing(previous, next) {
        let mut updated =
            condition(PROGRESSING, "True", REPLICA_SET_UPDATED, format!("{subject} is progressing."), now);
        if let Some(current) = current {
            if current.status.as_deref() == Some("True") {
                updated.last_transition_time = current.last_transition_time;
            }
            remove(next, PROGRESSING);
        }
        // Progress moves lastUpdateTime even when the reason stays the same.
        next.conditions.get_or_insert_with(Vec::new).push(updated);
    } else if timed_out(next, deadline, now) {
        let message = format!("{subject} has timed out progressing.");
        set(next, condition(PROGRESSING, "False", PROGRESS_DEADLINE_EXCEEDED, message, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn setting_a_condition_keeps_transition_times_and_ignores_repeats() {
        let mut status = DeploymentStatus::default();
        set(&mut status, condition(PROGRESSING, "True", NEW_REPLICA_SET_CREATED, "a".into(), t(0)));
        set(&mut status, condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE, "b".into(), t(1)));
        set(&mut status, condition(PROGRESSING, "True", NEW_REPLICA_SET_CREATED, "again".into(), t(2)));
        assert_eq!(get(&status, PROGRESSING).unwrap().message.as_deref(), Some("a"));
        set(&mut status, condition(PROGRESSING, "True", REPLICA_SET_UPDATED, "c".into(), t(3)));
        let progressing = get(&status, PROGRESSING).unwrap();
        assert_eq!(progressing.last_transition_time, Some(Time(t(0))));
        assert_eq!(progressing.last_update_time, Some(Time(t(3))));
        let types: Vec<_> = status.conditions.unwrap().iter().map(|c| c.type_.clone().unwrap_or_default()).collect();
        assert_eq!(types, [AVAILABLE, PROGRESSING]);
    }

    #[test]
    fn a_stalled_rollout_exceeds_its_progress_deadline() {
        let counts = Counts {
            desired: 2,
            max_unavailable: 0,
            all_desired: 3,
            replicas: 3,
            updated: 1,
            ready: 2,
            available: 2,
            generation: 2,
        };
        let mut previous = calculate(&DeploymentStatus::default(), &counts, t(0));
        set(&mut previous, condition(PROGRESSING, "True", NEW_REPLICA_SET_CREATED, "Created".into(), t(0)));
        // Nothing changes for 601 s.
        let mut next = calculate(&previous, &counts, t(601));
        estimate_progress(&previous, &mut next, &counts, Some(600), Some("web-abc"), "web", t(601));
        let progressing = get(&next, PROGRESSING).unwrap();
        assert_eq!(progressing.status.as_deref(), Some("False"));
        assert_eq!(progressing.reason.as_deref(), Some(PROGRESS_DEADLINE_EXCEEDED));
        assert_eq!(progressing.message.as_deref(), Some("ReplicaSet \"web-abc\" has timed out progressing."));
        assert_eq!(get(&next, AVAILABLE).unwrap().status.as_deref(), Some("True"));
    }

    #[test]
    fn a_finished_rollout_reports_the_new_replica_set_available() {
        let counts = Counts {
            desired: 2,
            max_unavailable: 0,
            all_desired: 2,
            replicas: 2,
            updated: 2,
            ready: 2,
            available: 2,
            generation: 1,
        };
        let previous = DeploymentStatus::default();
        let mut next = calculate(&previous, &counts, t(5));
        estimate_progress(&previous, &mut next, &counts, Some(600), Some("web-abc"), "web", t(5));
        let progressing = get(&next, PROGRESSING).unwrap();
        assert_eq!(progressing.reason.as_deref(), Some(NEW_REPLICA_SET_AVAILABLE));
        assert_eq!(progressing.message.as_deref(), Some("ReplicaSet \"web-abc\" has successfully progressed."));
    }
}
