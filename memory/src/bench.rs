//! `medic memory bench`: how the index behaves at a size: build time, add throughput, single-query search
//! latency (p50, p99) of the exact and the approximate indexes, recall@k of approximate against exact,
//! and resident memory.
//!
//! The vectors are synthetic but shaped like embeddings of real incidents rather than uniform noise:
//! incidents fall into clusters of very unequal size (a few failure modes are common, most are rare),
//! and within a cluster they vary along a few directions of their own (the same failure on different
//! workloads), plus a little noise in every dimension; every vector is unit length.
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::index::{Hit, MemoryIndex};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub n: usize,
    pub dim: usize,
    /// Queries timed and scored against the approximate indexes.
    pub queries: usize,
    /// Queries timed one by one against the exact index (each scans every vector).
    pub exact_queries: usize,
    pub k: usize,
    /// Approximate indexes to build: a FAISS factory string with build parameters.
    pub approximate: Vec<ApproximateSpec>,
    /// Number of clusters in the data (`None`: one per 500 vectors, between 8 and 4096).
    pub clusters: Option<usize>,
    pub seed: u64,
}

/// `HNSW32,Flat|efConstruction=64|efSearch=64,128,256`: a factory string, then parameters; a parameter
/// with several values is swept at search time (each value gets its own row).
#[derive(Debug, Clone, PartialEq)]
pub struct ApproximateSpec {
    pub factory: String,
    pub build: BTreeMap<String, f64>,
    pub sweep: Option<(String, Vec<f64>)>,
}

impl std::str::FromStr for ApproximateSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split('|');
        let factory = parts.next().unwrap_or("").trim().to_string();
        if factory.is_empty() {
            return Err(Error::Config(format!("{s:?}: expected FACTORY|name=value|name=v1,v2")));
        }
        let mut build = BTreeMap::new();
        let mut sweep = None;
        for part in parts {
            let (name, values) = part
                .split_once('=')
                .ok_or_else(|| Error::Config(format!("{s:?}: parameter {part:?} is not name=value")))?;
            let values: Vec<f64> = values
                .split(',')
                .map(|v| v.trim().parse::<f64>().map_err(|e| Error::Config(format!("{s:?}: {name}={v}: {e}"))))
                .collect::<Result<_>>()?;
            match values.as_slice() {
                [one] => {
                    build.insert(name.trim().to_string(), *one);
                }
                _ if sweep.is_none() => sweep = Some((name.trim().to_string(), values)),
                _ => return Err(Error::Config(format!("{s:?}: only one parameter can be swept"))),
            }
        }
        Ok(Self { factory, build, sweep })
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            n: 100_000,
            dim: 384,
            queries: 1_000,
            exact_queries: 100,
            k: 10,
            approximate: vec![
                "IVF1024,Flat|nprobe=8,16,32".parse().expect("valid spec"),
                "HNSW32,Flat|efConstruction=64|efSearch=64,128,256".parse().expect("valid spec"),
            ],
            clusters: None,
            seed: 42,
        }
    }
}

/// Figures of one index (one row per swept search parameter value).
#[derive(Debug, Clone, Serialize)]
pub struct IndexFigures {
    pub index: String,
    pub search_params: String,
    pub train_secs: f64,
    pub add_secs: f64,
    pub adds_per_sec: f64,
    pub search_p50_ms: f64,
    pub search_p99_ms: f64,
    /// p99 of the time the searching thread was on a CPU.
    pub cpu_p99_ms: f64,
    pub recall_at_k: Option<f64>,
    pub rss_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub n: usize,
    pub dim: usize,
    pub k: usize,
    pub clusters: usize,
    pub data: String,
    pub generate_secs: f64,
    pub ground_truth_secs: f64,
    pub rows: Vec<IndexFigures>,
    pub peak_rss_mib: f64,
    /// The machine's 1-minute load average before and after the run.
    pub load_average: (Option<f64>, Option<f64>),
    pub cpus: usize,
}

/// Runs the benchmark; `progress` hears what is being done (builds of a million vectors take minutes).
pub fn run(options: &BenchOptions, progress: &mut dyn FnMut(&str)) -> Result<BenchReport> {
    if options.n == 0 || options.dim == 0 || options.k == 0 {
        return Err(Error::Config("--n, --dim and k must be at least 1".into()));
    }
    let clusters = options.clusters.unwrap_or((options.n / 500).clamp(8, 4096)).max(1);
    let load_before = load_average();
    progress(&format!("generating {} vectors of dimension {} in {clusters} clusters", options.n, options.dim));
    let started = Instant::now();
    let data = SyntheticData::new(options.dim, clusters, options.seed);
    let mut rng = SmallRng::seed_from_u64(options.seed ^ 0x5eed);
    let vectors = data.sample(options.n, &mut rng);
    let queries = data.sample(options.queries.max(options.exact_queries).max(1), &mut rng);
    let ids: Vec<i64> = (1..=options.n as i64).collect();
    let generate_secs = started.elapsed().as_secs_f64();
    let dim = options.dim;
    let mut rows = Vec::new();

    progress("building the exact index");
    let started = Instant::now();
    let mut exact = MemoryIndex::exact(dim)?;
    exact.add(&ids, &vectors)?;
    let add_secs = started.elapsed().as_secs_f64();
    let (exact_wall, exact_cpu) = time_queries(&mut exact, &queries, options.exact_queries.max(1), dim, options.k)?;
    rows.push(IndexFigures {
        index: "Flat (exact)".into(),
        search_params: String::new(),
        train_secs: 0.0,
        add_secs,
        adds_per_sec: options.n as f64 / add_secs.max(1e-9),
        search_p50_ms: percentile(&exact_wall, 0.50),
        search_p99_ms: percentile(&exact_wall, 0.99),
        cpu_p99_ms: percentile(&exact_cpu, 0.99),
        recall_at_k: None,
        rss_mib: rss().0,
    });

    progress(&format!("exact top-{} of {} queries (ground truth)", options.k, options.queries));
    let started = Instant::now();
    let truth = exact.search_batch(&queries[..options.queries * dim], options.k)?;
    let ground_truth_secs = started.elapsed().as_secs_f64();
    drop(exact);

    for spec in &options.approximate {
        progress(&format!("building {}", spec.factory));
        let started = Instant::now();
        let mut index = MemoryIndex::new_approximate(dim, &spec.factory, &spec.build, &vectors)?;
        let train_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        // In batches, so progress can be reported during a build of minutes.
        let batch = (options.n / 20).max(10_000);
        for (chunk, ids) in vectors.chunks(batch * dim).zip(ids.chunks(batch)) {
            index.add(ids, chunk)?;
            progress(&format!("  added {} of {}", index.len(), options.n));
        }
        let add_secs = started.elapsed().as_secs_f64();
        let rss_mib = rss().0;
        let sweep: Vec<Option<(String, f64)>> = match &spec.sweep {
            Some((name, values)) => values.iter().map(|v| Some((name.clone(), *v))).collect(),
            None => vec![None],
        };
        for setting in sweep {
            let search_params = match &setting {
                Some((name, value)) => {
                    index.set_params(&BTreeMap::from([(name.clone(), *value)]))?;
                    format!("{name}={value}")
                }
                None => String::new(),
            };
            let (wall, cpu) = time_queries(&mut index, &queries, options.queries, dim, options.k)?;
            let mut found = 0usize;
            for (q, truth) in truth.iter().enumerate() {
                let hits = index.search(&queries[q * dim..(q + 1) * dim], options.k)?;
                found += hits.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
            }
            let expected: usize = truth.iter().map(Vec::len).sum();
            rows.push(IndexFigures {
                index: spec.factory.clone(),
                search_params,
                train_secs,
                add_secs,
                adds_per_sec: options.n as f64 / add_secs.max(1e-9),
                search_p50_ms: percentile(&wall, 0.50),
                search_p99_ms: percentile(&wall, 0.99),
                cpu_p99_ms: percentile(&cpu, 0.99),
                recall_at_k: Some(found as f64 / expected.max(1) as f64),
                rss_mib,
            });
        }
    }

    Ok(BenchReport {
        n: options.n,
        dim,
        k: options.k,
        clusters,
        data: data.describe(),
        generate_secs,
        ground_truth_secs,
        rows,
        peak_rss_mib: rss().1,
        load_average: (load_before, load_average()),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
    })
}

/// Single-query latencies in milliseconds, sorted: wall-clock, and on-CPU time of this thread (which
/// leaves out the time other processes held the CPU).
fn time_queries(
    index: &mut MemoryIndex,
    queries: &[f32],
    count: usize,
    dim: usize,
    k: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let count = count.min(queries.len() / dim);
    let mut wall = Vec::with_capacity(count);
    let mut cpu = Vec::with_capacity(count);
    let mut sink: Vec<Hit> = Vec::new();
    for q in 0..count {
        let cpu_before = thread_cpu_ns();
        let started = Instant::now();
        sink = index.search(&queries[q * dim..(q + 1) * dim], k)?;
        wall.push(ms(started.elapsed()));
        if let (Some(before), Some(after)) = (cpu_before, thread_cpu_ns()) {
            cpu.push(after.saturating_sub(before) as f64 / 1e6);
        }
    }
    drop(sink);
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Ok((wall, cpu))
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(t.tv_nsec).ok()?)
}

/// The 1-minute load average: how busy the machine was while measuring.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// (VmRSS, VmHWM) of this process in MiB, from /proc/self/status.
pub fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Clustered unit vectors (see the module docs).
struct SyntheticData {
    dim: usize,
    centres: Vec<f32>,
    /// `DIRECTIONS` unit directions per cluster.
    directions: Vec<f32>,
    /// Cumulative cluster weights (Zipf-like), for sampling a cluster.
    cumulative: Vec<f64>,
    topics: usize,
}

/// Clusters per topic: failures of one kind (say, memory) form neighbouring clusters.
const CLUSTERS_PER_TOPIC: usize = 20;
/// How far a cluster's centre strays from its topic's (cosine ≈ 0.75 to it, ≈ 0.55 between siblings).
const TOPIC_SPREAD: f32 = 0.9;
const DIRECTIONS: usize = 6;
const SPREAD: f32 = 0.3;
const NOISE: f32 = 0.02;
const ZIPF: f64 = 0.7;

impl SyntheticData {
    fn new(dim: usize, clusters: usize, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let unit = |rng: &mut SmallRng| {
            let mut v: Vec<f32> = (0..dim).map(|_| gaussian(rng)).collect();
            crate::embed::hashing::normalise(&mut v);
            v
        };
        let topics = clusters.div_ceil(CLUSTERS_PER_TOPIC);
        let topic_centres: Vec<Vec<f32>> = (0..topics).map(|_| unit(&mut rng)).collect();
        let centres = (0..clusters)
            .flat_map(|c| {
                let topic = &topic_centres[c % topics];
                let mut centre: Vec<f32> =
                    topic.iter().zip(unit(&mut rng)).map(|(t, r)| t + TOPIC_SPREAD * r).collect();
                crate::embed::hashing::normalise(&mut centre);
                centre
            })
            .collect();
        let directions = (0..clusters * DIRECTIONS).flat_map(|_| unit(&mut rng)).collect();
        let mut total = 0.0;
        let cumulative = (0..clusters)
            .map(|c| {
                total += 1.0 / ((c + 1) as f64).powf(ZIPF);
                total
            })
            .collect();
        Self { dim, centres, directions, cumulative, topics }
    }

    fn describe(&self) -> String {
        format!(
            "{} clusters with Zipf({ZIPF}) sizes in {} topics (a cluster centre = its topic's + {TOPIC_SPREAD} × a random \
             direction); each vector = its cluster's centre + {DIRECTIONS} cluster-specific directions × N(0, {SPREAD}²) \
             + uniform noise ±{NOISE} per dimension, L2-normalised",
            self.cumulative.len(),
            self.topics
        )
    }

    fn sample(&self, n: usize, rng: &mut SmallRng) -> Vec<f32> {
        let dim = self.dim;
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let mut out = vec![0.0f32; n * dim];
        for row in out.chunks_mut(dim) {
            let u = rng.random::<f64>() * total;
            let c = self.cumulative.partition_point(|&w| w < u).min(self.cumulative.len() - 1);
            row.copy_from_slice(&self.centres[c * dim..(c + 1) * dim]);
            for d in 0..DIRECTIONS {
                let a = gaussian(rng) * SPREAD;
                let start = (c * DIRECTIONS + d) * dim;
                for (x, dir) in row.iter_mut().zip(&self.directions[start..start + dim]) {
                    *x += a * dir;
                }
            }
            for x in row.iter_mut() {
                *x += (rng.random::<f32>() * 2.0 - 1.0) * NOISE;
            }
            crate::embed::hashing::normalise(row);
        }
        out
    }
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut SmallRng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "memory index bench: {} vectors, dimension {}, k = {}", self.n, self.dim, self.k)?;
        writeln!(f, "data: {}", self.data)?;
        writeln!(
            f,
            "generated in {:.1} s; exact ground truth for the queries in {:.1} s",
            self.generate_secs, self.ground_truth_secs
        )?;
        let load = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
        writeln!(
            f,
            "machine: {} CPUs, load average {} before and {} after (wall-clock latencies include waiting for a CPU)",
            self.cpus,
            load(self.load_average.0),
            load(self.load_average.1)
        )?;
        writeln!(
            f,
            "{:<20} {:<15} {:>8} {:>8} {:>10} {:>8} {:>8} {:>11} {:>9} {:>8}",
            "index", "search", "train s", "add s", "adds/s", "p50 ms", "p99 ms", "cpu p99 ms", "recall@k", "RSS MiB"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<20} {:<15} {:>8.2} {:>8.2} {:>10.0} {:>8.3} {:>8.3} {:>11.3} {:>9} {:>8.0}",
                r.index,
                r.search_params,
                r.train_secs,
                r.add_secs,
                r.adds_per_sec,
                r.search_p50_ms,
                r.search_p99_ms,
                r.cpu_p99_ms,
                r.recall_at_k.map_or("-".to_string(), |x| format!("{x:.4}")),
                r.rss_mib
            )?;
        }
        write!(f, "peak resident memory (VmHWM): {:.0} MiB", self.peak_rss_mib)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_a_swept_parameter() {
        let spec: ApproximateSpec = "IVF256,Flat|nprobe=8,16".parse().unwrap();
        assert_eq!(spec.factory, "IVF256,Flat");
        assert_eq!(spec.sweep, Some(("nprobe".into(), vec![8.0, 16.0])));
        let spec: ApproximateSpec = "HNSW32,Flat|efConstruction=40|efSearch=64".parse().unwrap();
        assert_eq!(spec.build, BTreeMap::from([("efConstruction".into(), 40.0), ("efSearch".into(), 64.0)]));
        assert!("HNSW32|efSearch".parse::<ApproximateSpec>().is_err());
        assert!("|efSearch=1".parse::<ApproximateSpec>().is_err());
        assert!("HNSW32|a=1,2|b=3,4".parse::<ApproximateSpec>().is_err());
    }

    #[test]
    fn a_small_bench_reports_every_figure() {
        let options = BenchOptions {
            n: 3_000,
            dim: 32,
            queries: 50,
            exact_queries: 20,
            approximate: vec!["HNSW16,Flat|efSearch=16,128".parse().unwrap(), "IVF16,Flat|nprobe=16".parse().unwrap()],
            ..BenchOptions::default()
        };
        let mut heard = Vec::new();
        let report = run(&options, &mut |m| heard.push(m.to_string())).unwrap();
        assert_eq!(report.rows.len(), 4);
        assert!(report.rows.iter().all(|r| r.search_p99_ms >= r.search_p50_ms && r.adds_per_sec > 0.0));
        // Probing every list of an IVF index is exact search.
        assert_eq!(report.rows[3].recall_at_k, Some(1.0));
        let low = report.rows[1].recall_at_k.unwrap();
        let high = report.rows[2].recall_at_k.unwrap();
        assert!(high >= low && high > 0.9, "efSearch 16: {low}, 128: {high}");
        assert!(report.peak_rss_mib > 0.0);
        assert!(heard.iter().any(|m| m.contains("building HNSW16,Flat")));
        let text = report.to_string();
        assert!(text.contains("recall@k") && text.contains("Flat (exact)") && text.contains("Zipf"), "{text}");
    }

    #[test]
    fn synthetic_vectors_are_unit_length_and_clustered() {
        let data = SyntheticData::new(64, 4, 1);
        let v = data.sample(200, &mut SmallRng::seed_from_u64(2));
        for row in v.chunks(64) {
            let norm: f32 = row.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-4);
        }
        // Vectors of the most common cluster resemble its centre far more than random unit vectors do.
        let centre = &data.centres[..64];
        let best = v.chunks(64).map(|r| crate::embed::hashing::cosine(r, centre)).fold(f32::MIN, f32::max);
        assert!(best > 0.5, "{best}");
    }
}
