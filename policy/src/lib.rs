//! medic's Kyverno validate engine: Kyverno `ClusterPolicy` / `Policy` YAML evaluated as Kyverno evaluates it,
//! without Kyverno, so that medic can check every change against the cluster's policies before applying it.
//!
//! # Use
//!
//! Load the policies once, then validate each object as it will be after the change. A [`PolicySet`] is
//! `Send + Sync`: share it in an `Arc`.
//!
//! ```
//! use medic_policy::{AdmissionRequest, Operation, PolicySet, Status};
//! use serde_json::json;
//!
//! let policies = PolicySet::from_yaml(
//!     r#"
//! apiVersion: kyverno.io/v1
//! kind: ClusterPolicy
//! metadata: {name: disallow-latest-tag}
//! spec:
//!   rules:
//!   - name: pin-images
//!     match: {any: [{resources: {kinds: [Pod]}}]}
//!     validate:
//!       message: pin a version
//!       pattern: {spec: {containers: [{image: "!*:latest"}]}}
//! "#,
//!     std::path::Path::new("inline.yaml"),
//! )?;
//! let deployment = json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:latest"}]}}}
//! });
//! let request = AdmissionRequest { operation: Operation::Create, ..Default::default() };
//! let results = policies.validate(&deployment, &request);
//! // Rules written for Pods apply to pod templates too (Kyverno autogen).
//! assert_eq!(results[0].rule, "autogen-pin-images");
//! assert_eq!(results[0].status, Status::Fail);
//! # Ok::<(), medic_policy::Error>(())
//! ```
//!
//! [`PolicySet::load_dirs`] reads every policy (and `PolicyException`) under folders; a malformed policy is an
//! [`Error::InvalidPolicy`] naming the file, the document and the field. [`PolicySet::validate`] returns one
//! [`RuleResult`] per rule that applies — `pass`, `fail`, `warn`, `error` or `skip`, with Kyverno's message —
//! and nothing for rules that do not match. A gate blocks on `fail` and `error`.
//!
//! # What is evaluated
//!
//! `match`/`exclude` (any/all, kinds with group/version/subresource and wildcards, names, namespaces,
//! annotations, selectors, namespace selectors, operations, user info), context `variable` entries,
//! preconditions, `deny` with every operator, `pattern` and `anyPattern` with every anchor and string
//! operator (ranges, quantities, durations, wildcards), `foreach` (nested, `elementScope`), `validate.cel`
//! (a CEL interpreter with the Kubernetes extension libraries), JMESPath with Kyverno's missing-key errors and
//! custom functions ([`jmespath`]), PolicyExceptions and autogen for pod controllers and CronJobs.
//! Context entries that need a cluster (`apiCall`, `configMap`, `imageRegistry`, `globalReference`) are not
//! fetched: values stand in for them, as in `kyverno test` ([`Values`]). `podSecurity` and `manifests`
//! validations report `error`.
//!
//! [`harness`] runs Kyverno CLI test files (`kyverno-test.yaml`) and scores them as Kyverno's harness does.
#![forbid(unsafe_code)]

pub mod autogen;
pub mod cel;
pub mod conditions;
pub mod context;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exception;
pub mod gofmt;
pub mod harness;
pub mod jmespath;
pub mod matching;
pub mod pattern;
pub mod policy;
pub mod quantity;
pub mod selector;
pub mod set;
pub mod variables;
pub mod wildcard;
pub mod yaml;

pub use engine::{AdmissionRequest, NoValues, Operation, RuleResult, Status, Values};
pub use error::{Error, Result};
pub use matching::UserInfo;
pub use set::PolicySet;
