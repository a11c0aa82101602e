//! A program started in the background with its output in a log file, killed when its handle is dropped
//! (a test that panics included), and a watchdog that kills the programs if this process dies without
//! running its destructors (a test runner's SIGKILL).
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

pub(crate) struct Daemon {
    pub program: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn spawn(program: &'static str, binary: &Path, args: &[String], log: PathBuf) -> Result<Daemon> {
        let out = File::create(&log).map_err(Error::io(format!("creating {}", log.display())))?;
        let err = out.try_clone().map_err(Error::io(format!("opening {}", log.display())))?;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(Error::io(format!("starting {}", binary.display())))?;
        tracing::debug!(program, pid = child.id(), "started");
        Ok(Daemon { program, child: Some(child), log })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// An error with the end of the log if the program has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(Error::Exited { program: self.program, status: "stopped".into(), log: self.log_tail(20) });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                Err(Error::Exited { program: self.program, status: status.to_string(), log: self.log_tail(20) })
            }
            Err(e) => Err(Error::Io { what: format!("checking on {}", self.program), source: e }),
        }
    }

    /// The last `lines` lines the program wrote.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Kills the program and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            tracing::debug!(program = self.program, "stopped");
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A shell that waits for this process to end and then kills the given programs: the last line of defence
/// when this process is killed without unwinding.
pub(crate) struct Watchdog {
    child: Option<Child>,
}

impl Watchdog {
    pub fn watch(pids: &[u32]) -> Result<Watchdog> {
        let script =
            "parent=$1; shift; while kill -0 \"$parent\" 2>/dev/null; do sleep 1; done; kill -9 \"$@\" 2>/dev/null";
        let mut args = vec!["-c".to_string(), script.to_string(), "medic-promstack-watchdog".into()];
        args.push(std::process::id().to_string());
        args.extend(pids.iter().map(u32::to_string));
        let child = Command::new("/bin/sh")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::io("starting the watchdog shell"))?;
        Ok(Watchdog { child: Some(child) })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
