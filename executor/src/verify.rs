//! Verification: after the steps are applied, poll the cluster (read-only, through `ClusterRead`) in the
//! clock's time until every check of the plan passes and keeps passing for the stable period, or the
//! timeout ends. At an accelerated clock, the real sleeps shrink with it.
use jiff::Timestamp;
use medic_core::context::{ContainerState, PodSnapshot};
use medic_core::execution::VerificationRecord;
use medic_core::ports::{Clock, ClusterRead};
use medic_core::{ObjectKind, ObjectRef, VerifyCheck, VerifySpec};
use std::collections::BTreeMap;
use std::time::Duration;

/// Waiting reasons that mean a container is not going to run as it is.
const BAD_WAITING: &[&str] =
    &["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"];

pub struct Verifier<'a> {
    pub reader: &'a dyn ClusterRead,
    pub clock: &'a dyn Clock,
    /// How often to poll, in the clock's time.
    pub poll: Duration,
    /// Namespaces whose pods a drain leaves alone (they do not count against `node-drained`).
    pub protected_namespaces: &'a [String],
}

/// Restart counts of the pods seen when the checks first passed; a rise means the workload is not stable.
type Baseline = BTreeMap<String, (i32, Option<Timestamp>)>;

impl Verifier<'_> {
    pub async fn verify(&self, spec: &VerifySpec) -> VerificationRecord {
        if spec.checks.contains(&VerifyCheck::AlertResolved) {
            // Only the alert's source knows; "verified" must mean the executor saw it.
            return VerificationRecord {
                ok: false,
                elapsed_secs: 0.0,
                detail: "alert-resolved cannot be checked by the executor (the alert's source reports it to the \
                         Director); use workload-healthy, node-drained or quarantined"
                    .into(),
            };
        }
        let start = self.clock.now();
        let timeout = Duration::from_secs(spec.timeout_secs);
        let stable = Duration::from_secs(spec.stable_secs);
        let mut stable_since: Option<Timestamp> = None;
        let mut baseline = Baseline::new();
        let mut polls = 0u32;
        loop {
            polls += 1;
            let now = self.clock.now();
            let elapsed = now.duration_since(start).unsigned_abs();
            let verdict = self.check_all(spec, &mut baseline, stable_since).await;
            match verdict {
                Ok(summary) => {
                    let since = *stable_since.get_or_insert(now);
                    if now.duration_since(since).unsigned_abs() >= stable {
                        return VerificationRecord {
                            ok: true,
                            elapsed_secs: elapsed.as_secs_f64(),
                            detail: format!("{summary}; stable for {}s ({polls} polls)", stable.as_secs()),
                        };
                    }
                }
                Err(reason) => {
                    stable_since = None;
                    baseline.clear();
                    if elapsed >= timeout {
                        return VerificationRecord {
                            ok: false,
                            elapsed_secs: elapsed.as_secs_f64(),
                            detail: format!("not recovered within {}s: {reason}", timeout.as_secs()),
                        };
                    }
                }
            }
            if elapsed >= timeout + stable {
                return VerificationRecord {
                    ok: false,
                    elapsed_secs: elapsed.as_secs_f64(),
                    detail: format!("did not stay healthy for {}s within {}s", stable.as_secs(), timeout.as_secs()),
                };
            }
            tokio::time::sleep(self.clock.to_real(self.poll)).await;
        }
    }

    /// `Ok(summary)` when every check passes now (and nothing restarted since `stable_since`).
    async fn check_all(
        &self,
        spec: &VerifySpec,
        baseline: &mut Baseline,
        stable_since: Option<Timestamp>,
    ) -> Result<String, String> {
        let mut passed = Vec::new();
        for check in &spec.checks {
            let summary = match check {
                VerifyCheck::WorkloadHealthy { namespace, deployment } => {
                    self.workload_healthy(namespace, deployment, baseline, stable_since).await?
                }
                VerifyCheck::NodeDrained { node } => self.node_drained(node).await?,
                VerifyCheck::Quarantined { namespace, policy } => self.quarantined(namespace, policy).await?,
                VerifyCheck::AlertResolved => return Err("alert-resolved cannot be checked by the executor".into()),
            };
            passed.push(summary);
        }
        if passed.is_empty() {
            passed.push("no checks".into());
        }
        Ok(passed.join("; "))
    }

    async fn workload_healthy(
        &self,
        namespace: &str,
        name: &str,
        baseline: &mut Baseline,
        stable_since: Option<Timestamp>,
    ) -> Result<String, String> {
        let target = ObjectRef::deployment(namespace, name);
        let w = self
            .reader
            .deployment(namespace, name)
            .await
            .map_err(|e| format!("reading {target}: {e}"))?
            .ok_or_else(|| format!("{target} not found"))?;
        let desired = w.replicas_desired;
        if w.observed_generation < w.generation {
            return Err(format!("{target}: generation {} not yet observed by its controller", w.generation));
        }
        if w.replicas_updated < desired {
            return Err(format!("{target}: {}/{desired} replicas on the newest revision", w.replicas_updated));
        }
        if w.replicas_available < desired {
            return Err(format!("{target}: {}/{desired} replicas available", w.replicas_available));
        }
        let newest = self
            .reader
            .rollouts(namespace, name)
            .await
            .map_err(|e| format!("reading the rollouts of {target}: {e}"))?
            .into_iter()
            .next()
            .map(|r| r.replica_set);
        let pods =
            self.reader.pods(namespace, &w.selector).await.map_err(|e| format!("reading pods of {target}: {e}"))?;
        let pods: Vec<&PodSnapshot> = pods
            .iter()
            .filter(|p| p.owner.as_ref().is_none_or(|o| o == &target))
            .filter(|p| !p.deleting && !matches!(p.phase.as_str(), "Succeeded" | "Failed"))
            .collect();
        for pod in &pods {
            if let (Some(newest), Some(rs)) = (&newest, &pod.replica_set)
                && rs != newest
            {
                return Err(format!("{target}: pod {} of an older revision is still running", pod.name));
            }
            for c in &pod.containers {
                if let ContainerState::Waiting { reason: Some(reason), .. } = &c.state
                    && BAD_WAITING.contains(&reason.as_str())
                {
                    return Err(format!("{target}: pod {} container {} is {reason}", pod.name, c.name));
                }
            }
        }
        // During the stable period no pod may restart or be OOM-killed.
        for pod in &pods {
            let restarts = pod.restarts();
            let last_oom = pod
                .containers
                .iter()
                .filter_map(|c| match &c.last_state {
                    Some(ContainerState::Terminated { reason: Some(r), finished_at, .. }) if r == "OOMKilled" => {
                        Some(finished_at.unwrap_or(Timestamp::UNIX_EPOCH))
                    }
                    _ => None,
                })
                .max();
            match baseline.get(&pod.name) {
                Some((before, _)) if restarts > *before => {
                    return Err(format!("{target}: pod {} restarted during the stable period", pod.name));
                }
                _ => {}
            }
            if let (Some(since), Some(oom)) = (stable_since, last_oom)
                && oom >= since
            {
                return Err(format!("{target}: pod {} was OOM-killed during the stable period", pod.name));
            }
            baseline.entry(pod.name.clone()).or_insert((restarts, last_oom));
        }
        Ok(format!("{target}: {}/{desired} replicas available on the newest revision", w.replicas_available))
    }

    async fn node_drained(&self, node: &str) -> Result<String, String> {
        let nodes = self.reader.nodes().await.map_err(|e| format!("reading nodes: {e}"))?;
        let n = nodes.iter().find(|n| n.name == node).ok_or_else(|| format!("node {node} not found"))?;
        if !n.unschedulable {
            return Err(format!("node {node} is schedulable"));
        }
        let pods = self.reader.pods_on_node(node).await.map_err(|e| format!("reading pods on node {node}: {e}"))?;
        let left: Vec<String> = pods
            .iter()
            .filter(|p| !p.deleting && !matches!(p.phase.as_str(), "Succeeded" | "Failed"))
            .filter(|p| !p.owner.as_ref().is_some_and(|o| matches!(o.kind, ObjectKind::DaemonSet | ObjectKind::Node)))
            .filter(|p| !self.protected_namespaces.contains(&p.namespace))
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        if !left.is_empty() {
            return Err(format!("node {node} still runs {}", left.join(", ")));
        }
        Ok(format!("node {node} is cordoned and runs no workload pods"))
    }

    async fn quarantined(&self, namespace: &str, policy: &str) -> Result<String, String> {
        let policies =
            self.reader.network_policies(namespace).await.map_err(|e| format!("reading networkpolicies: {e}"))?;
        let p = policies
            .iter()
            .find(|p| p.name == policy)
            .ok_or_else(|| format!("networkpolicy {namespace}/{policy} not found"))?;
        for t in ["Ingress", "Egress"] {
            if !p.policy_types.iter().any(|x| x == t) {
                return Err(format!("networkpolicy {namespace}/{policy} does not restrict {t}"));
            }
        }
        let pods = self.reader.pods(namespace, &p.pod_selector).await.map_err(|e| format!("reading pods: {e}"))?;
        let selected = pods.iter().filter(|p| !p.deleting).count();
        if selected == 0 {
            return Err(format!("networkpolicy {namespace}/{policy} selects no pod"));
        }
        Ok(format!("networkpolicy {namespace}/{policy} isolates {selected} pod(s)"))
    }
}
