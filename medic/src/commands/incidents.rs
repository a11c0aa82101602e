//! `medic incidents list|show`: read incidents and their timelines from the store.
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medic_store::{IncidentFilter, IncidentStatus, Store};
use std::path::PathBuf;
use std::process::ExitCode;

use medic::MedicConfig;

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// The configuration whose store to read.
    #[arg(long, short, env = "MEDIC_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Read this store file instead of the configured one.
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: IncidentsCommand,
}

#[derive(Debug, Subcommand)]
enum IncidentsCommand {
    /// Incidents, newest first.
    List {
        /// Only incidents in this status (open, investigating, resolved, escalated, ...).
        #[arg(long)]
        status: Option<IncidentStatus>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One incident's timeline: alert, context, findings, decision, actions, verification, outcome.
    Show {
        /// The Incident-UID, or its short form (`inc-…`).
        uid: String,
        #[arg(long)]
        json: bool,
    },
}

async fn open(args: &IncidentsArgs) -> Result<Store> {
    let mut store_config = MedicConfig::load(args.config.as_deref())?.store;
    if let Some(path) = &args.store {
        store_config.path = path.clone();
    }
    if !store_config.path.exists() {
        anyhow::bail!("no store at {}: has medic run here?", store_config.path.display());
    }
    let path = store_config.path.display().to_string();
    store_config
        .build_async(std::sync::Arc::new(medic_core::ports::SystemClock))
        .await
        .with_context(|| format!("opening {path}"))
}

pub fn run(args: IncidentsArgs) -> Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        let store = open(&args).await?;
        let code = match &args.command {
            IncidentsCommand::List { status, limit, json } => {
                let mut filter = IncidentFilter::default().limit(*limit);
                if let Some(s) = status {
                    filter = filter.status(*s);
                }
                let incidents = store.incidents(filter).await?;
                if *json {
                    let incidents: Vec<_> = incidents.iter().map(medic::http::incident_json).collect();
                    println!("{}", serde_json::to_string_pretty(&incidents)?);
                } else {
                    print!("{}", medic::timeline::list(&incidents));
                }
                ExitCode::SUCCESS
            }
            IncidentsCommand::Show { uid, json } => {
                let Some(incident) = store.find_incident(uid).await? else {
                    eprintln!("medic: no incident {uid}");
                    return Ok(ExitCode::from(1));
                };
                let alerts = store.incident_alerts(incident.uid).await?;
                let timeline = store.timeline(incident.uid).await?;
                if *json {
                    let timeline: Vec<_> = timeline.iter().map(|r| serde_json::json!({"seq": r.seq, "hash": r.hash, "entry": r.entry})).collect();
                    let alerts: Vec<_> = alerts.iter().map(|a| &a.alert).collect();
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"incident": medic::http::incident_json(&incident), "alerts": alerts, "timeline": timeline}))?);
                } else {
                    print!("{}", medic::timeline::show(&incident, &alerts, &timeline));
                }
                ExitCode::SUCCESS
            }
        };
        store.close().await;
        Ok(code)
    })
}
