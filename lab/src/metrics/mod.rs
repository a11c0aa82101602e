//! `/metrics`: what a Prometheus scraping the lab would find, in the text exposition format —
//! kube-state-metrics' series from the objects, cAdvisor's container series, the applications'
//! HTTP metrics and connection pools, and the datastores' exporters.
//!
//! - `ksm`: kube-state-metrics.
//! - `runtime`: containers, applications, datastores.
//! - `text`: the exposition format.
pub mod ksm;
pub mod runtime;
pub mod text;

use crate::app::AppHandle;
use crate::store::Store;

/// The exposition text for the lab now.
pub fn render(store: &Store, app: &AppHandle) -> String {
    let mut out = text::Exposition::default();
    ksm::write(store, &mut out);
    let state = app.lock();
    runtime::write(store, &state, &mut out);
    drop(state);
    out.render()
}
