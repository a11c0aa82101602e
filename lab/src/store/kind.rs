//! The resource kinds the lab serves, with the API metadata discovery publishes for each.

/// Every kind of object the lab's API server stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Event,
    Service,
    Endpoints,
    ConfigMap,
    Deployment,
    ReplicaSet,
    NetworkPolicy,
    /// `coordination.k8s.io/v1 Lease`: the kubelets' heartbeats in `kube-node-lease`.
    Lease,
    PodChaos,
    NetworkChaos,
    StressChaos,
    /// `lab.medic.io/v1alpha1 LabFault`: faults Chaos Mesh cannot express (memory leak, connection leak,
    /// node failure, suspicious egress).
    LabFault,
}

/// The verbs of every kind the lab serves (all of them support the full set).
pub const VERBS: [&str; 8] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

struct Meta {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    /// Subresources besides the resource itself: `status`, `scale`, `log`, `eviction`.
    subresources: &'static [&'static str],
}

#[allow(clippy::too_many_arguments)] // one positional row per kind reads best as a table
const fn meta(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> Meta {
    Meta { group, version, plural, singular, kind, namespaced, short_names, categories, subresources }
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Event,
        Kind::Service,
        Kind::Endpoints,
        Kind::ConfigMap,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::NetworkPolicy,
        Kind::Lease,
        Kind::PodChaos,
        Kind::NetworkChaos,
        Kind::StressChaos,
        Kind::LabFault,
    ];

    /// The API groups the lab serves, in the order discovery lists them (`""` is the core group).
    pub const GROUPS: [(&'static str, &'static str); 6] = [
        ("", "v1"),
        ("apps", "v1"),
        ("networking.k8s.io", "v1"),
        ("coordination.k8s.io", "v1"),
        ("chaos-mesh.org", "v1alpha1"),
        ("lab.medic.io", "v1alpha1"),
    ];

    fn meta(self) -> Meta {
        const ALL: &[&str] = &["all"];
        const CHAOS: &[&str] = &["chaos-mesh"];
        match self {
            Kind::Namespace => meta("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"], &[], &["status"]),
            Kind::Node => meta("", "v1", "nodes", "node", "Node", false, &["no"], &[], &["status"]),
            Kind::Pod => {
                meta("", "v1", "pods", "pod", "Pod", true, &["po"], ALL, &["status", "log", "eviction", "binding"])
            }
            Kind::Event => meta("", "v1", "events", "event", "Event", true, &["ev"], &[], &[]),
            Kind::Service => meta("", "v1", "services", "service", "Service", true, &["svc"], ALL, &["status"]),
            Kind::Endpoints => meta("", "v1", "endpoints", "endpoints", "Endpoints", true, &["ep"], &[], &[]),
            Kind::ConfigMap => meta("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"], &[], &[]),
            Kind::Deployment => meta(
                "apps",
                "v1",
                "deployments",
                "deployment",
                "Deployment",
                true,
                &["deploy"],
                ALL,
                &["status", "scale"],
            ),
            Kind::ReplicaSet => {
                meta("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], ALL, &["status", "scale"])
            }
            Kind::NetworkPolicy => meta(
                "networking.k8s.io",
                "v1",
                "networkpolicies",
                "networkpolicy",
                "NetworkPolicy",
                true,
                &["netpol"],
                &[],
                &[],
            ),
            Kind::Lease => meta("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, &[], &[], &[]),
            Kind::PodChaos => {
                meta("chaos-mesh.org", "v1alpha1", "podchaos", "podchaos", "PodChaos", true, &[], CHAOS, &["status"])
            }
            Kind::NetworkChaos => meta(
                "chaos-mesh.org",
                "v1alpha1",
                "networkchaos",
                "networkchaos",
                "NetworkChaos",
                true,
                &[],
                CHAOS,
                &["status"],
            ),
            Kind::StressChaos => meta(
                "chaos-mesh.org",
                "v1alpha1",
                "stresschaos",
                "stresschaos",
                "StressChaos",
                true,
                &[],
                CHAOS,
                &["status"],
            ),
            Kind::LabFault => {
                meta("lab.medic.io", "v1alpha1", "labfaults", "labfault", "LabFault", true, &["lf"], &[], &["status"])
            }
        }
    }

    /// The API group, `""` for the core group.
    pub fn group(self) -> &'static str {
        self.meta().group
    }
    pub fn version(self) -> &'static str {
        self.meta().version
    }
    /// `v1` or `apps/v1`: the object's `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "" => "v1",
            "apps" => "apps/v1",
            "networking.k8s.io" => "networking.k8s.io/v1",
            "coordination.k8s.io" => "coordination.k8s.io/v1",
            "chaos-mesh.org" => "chaos-mesh.org/v1alpha1",
            _ => "lab.medic.io/v1alpha1",
        }
    }
    pub fn plural(self) -> &'static str {
        self.meta().plural
    }
    pub fn singular(self) -> &'static str {
        self.meta().singular
    }
    /// The kind name: `Pod`, `Deployment`, ...
    pub fn kind(self) -> &'static str {
        self.meta().kind
    }
    pub fn namespaced(self) -> bool {
        self.meta().namespaced
    }
    pub fn short_names(self) -> &'static [&'static str] {
        self.meta().short_names
    }
    pub fn categories(self) -> &'static [&'static str] {
        self.meta().categories
    }
    pub fn subresources(self) -> &'static [&'static str] {
        self.meta().subresources
    }
    pub fn verbs(self) -> &'static [&'static str] {
        &VERBS
    }

    /// Whether writes to `spec` bump `metadata.generation` (and the kind has a status the controllers own).
    pub fn tracks_generation(self) -> bool {
        matches!(
            self,
            Kind::Deployment
                | Kind::ReplicaSet
                | Kind::NetworkPolicy
                | Kind::PodChaos
                | Kind::NetworkChaos
                | Kind::StressChaos
                | Kind::LabFault
        )
    }

    /// Whether `status` is a subresource: updates of the main resource leave it unchanged.
    pub fn has_status_subresource(self) -> bool {
        self.subresources().contains(&"status")
    }

    /// Whether the API server accepts strategic merge patches (built-in kinds; custom resources do not).
    pub fn supports_strategic_merge(self) -> bool {
        !matches!(self, Kind::PodChaos | Kind::NetworkChaos | Kind::StressChaos | Kind::LabFault)
    }

    /// The kind served at `group`/`version` under `plural`.
    pub fn from_resource(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.group() == group && k.version() == version && k.plural() == plural)
    }

    /// The kind named `kind` in `apiVersion` (`v1`, `apps/v1`, ...).
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.api_version() == api_version && k.kind() == kind)
    }

    /// The kind named `kind`, in whatever group (owner references name the kind and the apiVersion).
    pub fn from_kind_name(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.kind() == kind)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_resource_and_api_version() {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(Kind::from_resource(kind.group(), kind.version(), kind.plural()), Some(kind));
            assert_eq!(Kind::from_api_version(kind.api_version(), kind.kind()), Some(kind));
            assert!(Kind::GROUPS.contains(&(kind.group(), kind.version())), "{kind} has no group");
        }
    }

    #[test]
    fn short_names_are_kubectls() {
        let shorts: Vec<&str> = Kind::ALL.iter().flat_map(|k| k.short_names().iter().copied()).collect();
        for expected in ["po", "deploy", "rs", "no", "ns", "svc", "cm", "ev", "netpol"] {
            assert!(shorts.contains(&expected), "{expected} missing");
        }
    }
}
