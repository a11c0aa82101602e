//! `medic audit verify`: walks the hash chain of the audit trail and reports the first record that was
//! altered, removed or reordered (exit 1), or that every record is intact (exit 0).
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medic_store::Error as StoreError;
use std::path::PathBuf;
use std::process::ExitCode;

use medic::MedicConfig;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The configuration whose store to read.
    #[arg(long, short, env = "MEDIC_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Read this store file instead of the configured one.
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that no record of the audit trail was altered, removed or reordered.
    Verify {
        /// Print JSON: `{"ok": true, "records": N}` or `{"ok": false, "seq": N, "problem": "...", "detail": "..."}`.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: AuditArgs) -> Result<ExitCode> {
    let mut store_config = MedicConfig::load(args.config.as_deref())?.store;
    if let Some(path) = &args.store {
        store_config.path = path.clone();
    }
    let path = store_config.path.clone();
    if !path.exists() {
        anyhow::bail!("no store at {}: has medic run here?", path.display());
    }
    let AuditCommand::Verify { json } = args.command;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        let store = store_config
            .build_async(std::sync::Arc::new(medic_core::ports::SystemClock))
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let verdict = store.verify_audit().await;
        store.close().await;
        match verdict {
            Ok(records) => {
                if json {
                    println!("{}", serde_json::json!({"ok": true, "records": records, "store": path}));
                } else {
                    println!("audit trail intact: {records} records in {}", path.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(StoreError::AuditBroken(broken)) => {
                if json {
                    let problem = broken.kind.to_string();
                    let body = serde_json::json!({
                        "ok": false, "seq": broken.seq, "problem": problem, "detail": broken.detail, "store": path,
                    });
                    println!("{body}");
                } else {
                    println!(
                        "audit trail broken at record {}: {} ({}) in {}",
                        broken.seq,
                        broken.kind,
                        broken.detail,
                        path.display()
                    );
                }
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e).with_context(|| format!("verifying the audit trail of {}", path.display())),
        }
    })
}
