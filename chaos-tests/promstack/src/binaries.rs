//! Where Debian's packages put the binaries, or where the environment says they are.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The programs of Debian's `prometheus` and `prometheus-alertmanager` packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
}

impl Binaries {
    pub const PROMETHEUS: &'static str = "/usr/bin/prometheus";
    pub const ALERTMANAGER: &'static str = "/usr/bin/prometheus-alertmanager";
    /// Environment variables that point at other builds of the two programs.
    pub const PROMETHEUS_ENV: &'static str = "MEDIC_PROMETHEUS_BIN";
    pub const ALERTMANAGER_ENV: &'static str = "MEDIC_ALERTMANAGER_BIN";

    /// Debian's binaries (or those `MEDIC_PROMETHEUS_BIN` and `MEDIC_ALERTMANAGER_BIN` name); an error
    /// that says how to install them when one is missing.
    pub fn locate() -> Result<Binaries> {
        let pick =
            |env: &str, default: &str| std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
        let binaries = Binaries {
            prometheus: pick(Self::PROMETHEUS_ENV, Self::PROMETHEUS),
            alertmanager: pick(Self::ALERTMANAGER_ENV, Self::ALERTMANAGER),
        };
        for (program, path) in
            [("prometheus", &binaries.prometheus), ("prometheus-alertmanager", &binaries.alertmanager)]
        {
            if !is_executable(path) {
                return Err(Error::NotInstalled { program, path: path.clone() });
            }
        }
        Ok(binaries)
    }

    /// `promtool`, installed next to `prometheus`.
    pub fn promtool(&self) -> PathBuf {
        self.prometheus.with_file_name("promtool")
    }

    /// `amtool`, installed next to `prometheus-alertmanager`.
    pub fn amtool(&self) -> PathBuf {
        self.alertmanager.with_file_name("amtool")
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
