//! `medic policy ...`: run Kyverno CLI test suites (`test`) and check one object against policies (`check`).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use medic_policy::{AdmissionRequest, Operation, PolicySet, Status};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run the Kyverno CLI test files (kyverno-test.yaml) found under the paths and score them.
    Test(TestArgs),
    /// Validate objects against policies and explain each rule's result.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Files or folders searched (recursively) for kyverno-test.yaml.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the full report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OperationArg {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Policy files or folders (ClusterPolicy / Policy / PolicyException YAML).
    #[arg(short = 'p', long = "policies", required = true, num_args = 1..)]
    policies: Vec<PathBuf>,
    /// The object(s) to check: a YAML file, possibly with several documents.
    #[arg(short = 'r', long = "resource", required = true)]
    resource: PathBuf,
    /// The admission operation to check the object under.
    #[arg(long, value_enum, default_value = "create")]
    operation: OperationArg,
    /// The object before the change, for UPDATE.
    #[arg(long)]
    old: Option<PathBuf>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Test(args) => test(args),
        PolicyCommand::Check(args) => check(args),
    }
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let report = medic_policy::harness::run_paths(&args.paths).context("running the Kyverno test files")?;
    if args.json {
        let value = serde_json::json!({
            "categories": report.categories(),
            "totals": report.totals(),
            "tests": report.tests,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let set = PolicySet::load_dirs(&args.policies).context("loading policies")?;
    let objects = medic_policy::yaml::load_file(&args.resource).context("loading the resource")?;
    let old = match &args.old {
        Some(path) => {
            let docs = medic_policy::yaml::load_file(path).context("loading the old object")?;
            docs.into_iter().next().map(|d| d.value)
        }
        None => None,
    };
    let operation = match args.operation {
        OperationArg::Create => Operation::Create,
        OperationArg::Update => Operation::Update,
        OperationArg::Delete => Operation::Delete,
    };
    let mut blocked = false;
    let mut all = Vec::new();
    for doc in &objects {
        let request = AdmissionRequest { operation, old_object: old.clone(), ..Default::default() };
        let results = set.validate(&doc.value, &request);
        let kind = doc.value.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
        let name = doc.value.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("?");
        blocked |= results.iter().any(|r| matches!(r.status, Status::Fail | Status::Error));
        if args.json {
            all.push(serde_json::json!({"kind": kind, "name": name, "results": results}));
            continue;
        }
        println!("{kind}/{name}: {} rule(s) applied", results.len());
        for r in &results {
            println!("  {:<5} {}/{}: {}", r.status.as_str(), r.policy, r.rule, r.message);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if blocked { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
