//! The kubeconfig `medic lab up` writes: one cluster, one user with a bearer token, one context, so the
//! machine's kubectl and kube-rs (`Config::from_custom_kubeconfig` or `KUBECONFIG`) both use it.
use std::path::Path;

use crate::error::{Error, Result};

/// The name of the cluster, user and context in the kubeconfig.
pub const CONTEXT: &str = "medic-lab";

/// The kubeconfig text for a server at `url` (`http://127.0.0.1:PORT`).
pub fn render(url: &str, namespace: Option<&str>) -> String {
    let namespace = namespace.map(|ns| format!("    namespace: {ns}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {CONTEXT}\n  cluster:\n    server: {url}\n\
         users:\n\
         - name: {CONTEXT}\n  user:\n    token: medic-lab-token\n\
         contexts:\n\
         - name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n{namespace}\
         current-context: {CONTEXT}\n\
         preferences: {{}}\n"
    )
}

/// Write the kubeconfig for `url` to `path`, creating its directory.
pub fn write(path: &Path, url: &str, namespace: Option<&str>) -> Result<()> {
    let io = |source| Error::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, render(url, namespace)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_is_valid_yaml_with_one_context() {
        let text = render("http://127.0.0.1:4321", Some("shop"));
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(parsed["clusters"][0]["cluster"]["server"], "http://127.0.0.1:4321");
        assert_eq!(parsed["current-context"], CONTEXT);
        assert_eq!(parsed["contexts"][0]["context"]["namespace"], "shop");
        assert_eq!(parsed["users"][0]["user"]["token"], "medic-lab-token");
        let plain: serde_json::Value = serde_yaml_ng::from_str(&render("http://x", None)).unwrap();
        assert!(plain["contexts"][0]["context"].get("namespace").is_none());
    }
}
