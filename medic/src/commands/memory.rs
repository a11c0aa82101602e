//! `medic memory search|stats|export|import|bench`: look into medic's memory of past incidents.
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use medic::MedicConfig;
use medic_memory::bench::{ApproximateSpec, BenchOptions};
use medic_memory::{EmbedderConfig, MemoryBank, MemoryConfig};

#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// The configuration whose store to read.
    #[arg(long, short, env = "MEDIC_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Use this store file instead of the configured one.
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// The FAISS index file (default: `memory.faiss` beside the store).
    #[arg(long, global = true)]
    index: Option<PathBuf>,
    /// Embed with this Ollama server (`http://127.0.0.1:11434`) instead of the model-free embedder.
    #[arg(long, global = true, requires_all = ["ollama_model", "dimension"])]
    ollama_url: Option<String>,
    /// The Ollama embedding model (`nomic-embed-text`).
    #[arg(long, global = true)]
    ollama_model: Option<String>,
    /// The embedding dimension (the model's, with Ollama).
    #[arg(long, global = true)]
    dimension: Option<usize>,
    #[command(subcommand)]
    command: MemoryCommand,
}

#[derive(Debug, Subcommand)]
enum MemoryCommand {
    /// The past incidents most similar to a log line, an event message or `kind: value` symptom lines.
    Search {
        /// The text (several arguments are several lines).
        #[arg(required = true)]
        text: Vec<String>,
        #[arg(short, default_value_t = 5)]
        k: usize,
        #[arg(long)]
        json: bool,
    },
    /// How many memories, of which kinds, and the index that holds them.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Write every memory as JSON Lines.
    Export {
        /// The file to write (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Read memories written by `export` (`-` for standard input); known ones are skipped.
    Import { input: PathBuf },
    /// Build exact and approximate indexes of synthetic memories and measure them.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// How many vectors.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Their dimension.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Queries timed and scored against each approximate index.
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
    /// Queries timed against the exact index (each scans all vectors).
    #[arg(long, default_value_t = 100)]
    exact_queries: usize,
    /// An approximate index: `FACTORY|name=value|name=v1,v2,...` (one parameter may list values to sweep).
    /// Repeat to compare several.
    #[arg(
        long = "approximate",
        default_values = ["IVF1024,Flat|nprobe=8,16,32", "HNSW32,Flat|efConstruction=64|efSearch=64,128,256"]
    )]
    approximate: Vec<String>,
    /// Clusters in the synthetic data (default: one per 500 vectors, 8 to 4096).
    #[arg(long)]
    clusters: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

pub fn run(args: MemoryArgs) -> Result<ExitCode> {
    if let MemoryCommand::Bench(bench) = &args.command {
        return run_bench(bench);
    }
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        let bank = open(&args).await?;
        match &args.command {
            MemoryCommand::Search { text, k, json } => search(&bank, &text.join("\n"), *k, *json).await,
            MemoryCommand::Stats { json } => stats(&bank, *json),
            MemoryCommand::Export { output } => export(&bank, output.as_deref()).await,
            MemoryCommand::Import { input } => import(&bank, input).await,
            MemoryCommand::Bench(_) => unreachable!("handled above"),
        }
    })
}

fn memory_config(args: &MemoryArgs, store_path: &Path) -> Result<MemoryConfig> {
    let mut config = MemoryConfig::beside_store(store_path);
    if let Some(index) = &args.index {
        config.index_path = index.clone();
    }
    match (&args.ollama_url, &args.ollama_model, args.dimension) {
        (Some(url), Some(model), Some(dimension)) => {
            config.embedder =
                EmbedderConfig::Ollama { url: url.clone(), model: model.clone(), dimension, timeout_secs: 30 };
        }
        (None, _, Some(dimension)) => config.embedder = EmbedderConfig::Hashing { dimension, seed: 0 },
        _ => {}
    }
    config.validate()?;
    Ok(config)
}

async fn open(args: &MemoryArgs) -> Result<MemoryBank> {
    let mut store_config = MedicConfig::load(args.config.as_deref())?.store;
    if let Some(path) = &args.store {
        store_config.path = path.clone();
    }
    let creates = matches!(args.command, MemoryCommand::Import { .. });
    if !creates && !store_config.path.exists() {
        anyhow::bail!("no store at {}: has medic run here?", store_config.path.display());
    }
    let config = memory_config(args, &store_config.path)?;
    let path = store_config.path.display().to_string();
    let store = store_config
        .build_async(Arc::new(medic_core::ports::SystemClock))
        .await
        .with_context(|| format!("opening {path}"))?;
    let (bank, report) = MemoryBank::open(config, store).await.context("opening the memory")?;
    if let Some(reason) = &report.rebuilt {
        eprintln!("rebuilt the index from the store ({reason})");
    }
    Ok(bank)
}

async fn search(bank: &MemoryBank, text: &str, k: usize, json: bool) -> Result<ExitCode> {
    // Nothing in common (cosine 0 or below) is no match at all.
    let hits: Vec<_> = bank.search_text(text, k).await?.into_iter().filter(|h| h.similarity > 0.0).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        println!("no memories");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>10}  {:<12}  {:<24}  {:<24}  {:<8}  {:<14}  target",
        "similarity", "incident", "class", "fix", "outcome", "approved by"
    );
    for hit in &hits {
        let m = &hit.memory;
        println!(
            "{:>10.3}  {:<12}  {:<24}  {:<24}  {:<8}  {:<14}  {}",
            hit.similarity,
            m.incident.short(),
            m.class.as_str(),
            m.playbook.as_deref().unwrap_or("-"),
            if m.fix_worked { "verified" } else { "failed" },
            m.approved_by.as_deref().unwrap_or("-"),
            m.target.as_ref().map_or("-".to_string(), ToString::to_string)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn stats(bank: &MemoryBank, json: bool) -> Result<ExitCode> {
    let stats = bank.stats();
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("memories:    {} of {} incidents", stats.memories, stats.incidents);
    println!(
        "fixes:       {} verified, {} failed, {} approved by a human",
        stats.fixes_worked, stats.fixes_failed, stats.approved_by_a_human
    );
    println!("embedder:    {} (dimension {})", stats.embedder, stats.dimension);
    let size = stats.index_file_bytes.map_or("not saved yet".to_string(), |b| format!("{b} bytes on disk"));
    println!("index:       {} ({}), {size}", stats.index_kind, stats.index_factory);
    for (class, (worked, failed)) in &stats.by_class {
        println!("  {class:<26} {worked:>5} verified {failed:>5} failed");
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(bank: &MemoryBank, output: Option<&Path>) -> Result<ExitCode> {
    let written = match output {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            bank.export(&mut out).await?
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            match bank.export(&mut out).await {
                Ok(n) => n,
                // `medic memory export | head`: the reader has what it wanted.
                Err(medic_memory::Error::Export(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    eprintln!("exported {written} memories");
    Ok(ExitCode::SUCCESS)
}

async fn import(bank: &MemoryBank, input: &Path) -> Result<ExitCode> {
    let report = if input == Path::new("-") {
        let stdin = std::io::stdin();
        let mut reader = stdin.lock();
        bank.import(&mut reader, Path::new("<stdin>")).await?
    } else {
        let file = std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
        bank.import(&mut BufReader::new(file), input).await?
    };
    println!(
        "imported {} memories, skipped {} already known, embedded {} again",
        report.imported, report.skipped, report.re_embedded
    );
    Ok(ExitCode::SUCCESS)
}

fn run_bench(args: &BenchArgs) -> Result<ExitCode> {
    let approximate = args.approximate.iter().map(|s| s.parse::<ApproximateSpec>()).collect::<Result<Vec<_>, _>>()?;
    let options = BenchOptions {
        n: args.n,
        dim: args.dim,
        queries: args.queries,
        exact_queries: args.exact_queries,
        k: 10,
        approximate,
        clusters: args.clusters,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let report = medic_memory::bench::run(&options, &mut |step| {
        eprintln!("[{:>7.1}s] {step}", started.elapsed().as_secs_f64());
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
