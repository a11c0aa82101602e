//! Rolling-update arithmetic of the Deployment controller, free of any store: how far the new
//! ReplicaSet may scale up and how many old pods may go, under `maxSurge` and `maxUnavailable`.
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The default of both `maxSurge` and `maxUnavailable`.
pub const DEFAULT_PERCENT: &str = "25%";

/// An int-or-percent value against a total: percentages round up for surge, down for unavailability.
pub fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> Result<i32, String> {
    let default = IntOrString::String(DEFAULT_PERCENT.to_string());
    match value.unwrap_or(&default) {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let percent: i64 = text.strip_suffix('%').and_then(|p| p.parse().ok()).ok_or_else(|| {
                format!("invalid value for IntOrString: invalid type: string is not a percentage: {text}")
            })?;
            let product = percent * i64::from(total);
            let value = if round_up { (product + 99) / 100 } else { product / 100 };
            Ok(value as i32)
        }
    }
}

/// `(maxSurge, maxUnavailable)` in pods. Both zero is not allowed; Kubernetes then allows one
/// unavailable pod so that the rollout can make progress.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let surge = scaled_value(max_surge, desired, true)?;
    let unavailable = scaled_value(max_unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 { Ok((0, 1)) } else { Ok((surge, unavailable)) }
}

/// What the rollout needs to know about one ReplicaSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaCounts {
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

/// The new ReplicaSet's replica count for this step of a rolling update (`NewRSNewReplicas`).
pub fn new_rs_replicas(deployment_replicas: i32, max_surge: i32, all_desired: i32, new_rs_desired: i32) -> i32 {
    if new_rs_desired >= deployment_replicas {
        return deployment_replicas;
    }
    let max_total = deployment_replicas + max_surge;
    if all_desired >= max_total {
        return new_rs_desired;
    }
    let scale_up = (max_total - all_desired).min(deployment_replicas - new_rs_desired);
    new_rs_desired + scale_up
}

/// How many old pods may be removed now (`reconcileOldReplicaSets`): keep at least
/// `replicas - maxUnavailable` available, counting the new ReplicaSet's unavailable pods as missing.
pub fn max_scaled_down(deployment_replicas: i32, max_unavailable: i32, all_desired: i32, new_rs: ReplicaCounts) -> i32 {
    let min_available = deployment_replicas - max_unavailable;
    let new_unavailable = (new_rs.desired - new_rs.available).max(0);
    all_desired - min_available - new_unavailable
}

/// First step of scaling old ReplicaSets down: remove their unavailable pods, oldest ReplicaSet first,
/// up to `max_scaled_down`. Returns the new desired count of each old ReplicaSet (same order) and how
/// many were removed.
pub fn cleanup_unhealthy(old: &[ReplicaCounts], max_scaled_down: i32) -> (Vec<i32>, i32) {
    let mut remaining = max_scaled_down.max(0);
    let mut removed = 0;
    let desired = old
        .iter()
        .map(|rs| {
            let unhealthy = (rs.desired - rs.available).max(0);
            let cut = unhealthy.min(remaining);
            remaining -= cut;
            removed += cut;
            rs.desired - cut
        })
        .collect();
    (desired, removed)
}

/// Second step: remove available old pods while more than `replicas - maxUnavailable` are available
/// across all ReplicaSets. `old` holds counts after the first step; returns new desired counts.
pub fn scale_down_available(
    old: &[ReplicaCounts],
    deployment_replicas: i32,
    max_unavailable: i32,
    all_available: i32,
) -> Vec<i32> {
    let min_available = deployment_replicas - max_unavailable;
    let mut remaining = (all_available - min_available).max(0);
    old.iter()
        .map(|rs| {
            let cut = rs.desired.min(remaining).max(0);
            remaining -= cut;
            rs.desired - cut
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(p: &str) -> IntOrString {
        IntOrString::String(p.into())
    }

    #[test]
    fn fenceposts_round_like_kubernetes() {
        type Case = (Option<IntOrString>, Option<IntOrString>, i32, (i32, i32));
        let cases: &[Case] = &[
            (None, None, 4, (1, 1)),
            (None, None, 10, (3, 2)),
            (None, None, 1, (1, 0)),
            (Some(IntOrString::Int(0)), Some(IntOrString::Int(0)), 3, (0, 1)),
            (Some(IntOrString::Int(2)), Some(percent("50%")), 3, (2, 1)),
            (Some(percent("100%")), Some(IntOrString::Int(0)), 3, (3, 0)),
        ];
        for (surge, unavailable, desired, expected) in cases {
            assert_eq!(resolve_fenceposts(surge.as_ref(), unavailable.as_ref(), *desired), Ok(*expected));
        }
        assert!(resolve_fenceposts(Some(&percent("lots")), None, 3).is_err());
    }

    #[test]
    fn the_new_replica_set_scales_up_within_the_surge() {
        // (replicas, surge, all desired, new desired) -> new desired
        let cases =
            [(3, 1, 3, 0, 1), (3, 1, 4, 1, 1), (3, 1, 3, 1, 2), (3, 0, 3, 0, 0), (3, 1, 1, 0, 3), (3, 1, 5, 4, 3)];
        for (replicas, surge, all, new, expected) in cases {
            assert_eq!(new_rs_replicas(replicas, surge, all, new), expected, "{replicas} {surge} {all} {new}");
        }
    }

    #[test]
    fn old_pods_go_only_while_enough_stay_available() {
        // 3 replicas, maxUnavailable 1: old RS has 3 available, new RS has 1 pod not yet available.
        let new_rs = ReplicaCounts { desired: 1, available: 0 };
        assert_eq!(max_scaled_down(3, 1, 4, new_rs), 1);
        let (after_cleanup, removed) = cleanup_unhealthy(&[ReplicaCounts { desired: 3, available: 3 }], 1);
        assert_eq!((after_cleanup, removed), (vec![3], 0));
        assert_eq!(scale_down_available(&[ReplicaCounts { desired: 3, available: 3 }], 3, 1, 3), vec![2]);
        // With nothing to spare, nothing goes.
        assert_eq!(scale_down_available(&[ReplicaCounts { desired: 2, available: 2 }], 3, 1, 2), vec![2]);
        // Unavailable old pods go first, oldest ReplicaSet first.
        let old = [ReplicaCounts { desired: 2, available: 0 }, ReplicaCounts { desired: 2, available: 1 }];
        assert_eq!(cleanup_unhealthy(&old, 3), (vec![0, 1], 3));
    }

    use proptest::prelude::*;

    proptest! {
        /// A whole rolling update driven by these functions, with new pods becoming available at random
        /// steps: never more than `replicas + maxSurge` pods, never fewer than `replicas - maxUnavailable`
        /// available, and it finishes with every pod new.
        #[test]
        fn rolling_updates_respect_their_bounds_and_finish(
            replicas in 1i32..20,
            surge_percent in 0i64..=100,
            unavailable_percent in 0i64..=100,
            readiness in proptest::collection::vec(any::<bool>(), 400),
        ) {
            let surge_value = IntOrString::String(format!("{surge_percent}%"));
            let unavailable_value = IntOrString::String(format!("{unavailable_percent}%"));
            let (surge, unavailable) = resolve_fenceposts(Some(&surge_value), Some(&unavailable_value), replicas).unwrap();
            let unavailable = unavailable.min(replicas);
            let mut new = ReplicaCounts::default();
            let mut old = ReplicaCounts { desired: replicas, available: replicas };
            let mut done = false;
            for ready in readiness {
                let all = new.desired + old.desired;
                new.desired = new_rs_replicas(replicas, surge, all, new.desired);
                prop_assert!(new.desired + old.desired <= replicas + surge);
                let all = new.desired + old.desired;
                let down = max_scaled_down(replicas, unavailable, all, new);
                if down > 0 && old.desired > 0 {
                    let (after, _) = cleanup_unhealthy(&[old], down);
                    old.desired = after[0];
                    old.available = old.available.min(old.desired);
                    let after = scale_down_available(&[old], replicas, unavailable, new.available + old.available);
                    old.desired = after[0];
                    old.available = old.available.min(old.desired);
                }
                prop_assert!(new.available + old.available >= replicas - unavailable, "{new:?} {old:?}");
                // One more new pod becomes available at random steps.
                if ready && new.available < new.desired {
                    new.available += 1;
                }
                if new.desired == replicas && new.available == replicas && old.desired == 0 {
                    done = true;
                    break;
                }
            }
            // 400 coin flips make ~200 pods ready: enough for 20 replicas unless the bounds forbid progress.
            prop_assert!(done, "stuck at new {new:?} old {old:?} (surge {surge}, unavailable {unavailable})");
        }
    }
}
