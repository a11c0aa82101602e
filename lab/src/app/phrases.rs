//! Log phrasings: a table per technology and condition (`phrases.yaml`), overridable per service
//! from the topology, rendered with the facts of the moment (`${dep_ip}`, `${ts_pg}`, ...).
//!
//! Templates are parsed once; rendering appends to a reused buffer. Which phrasing a line uses is
//! drawn from the caller's seeded RNG, so a run is reproducible and a rerun with another seed reads
//! differently.
use jiff::Timestamp;
use rand::Rng;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::OnceLock;

use super::technology::{Protocol, Technology};

/// What a log line is about. The names are the keys of `phrases.yaml` and of a service's `logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    Starting,
    Ready,
    Request,
    SlowRequest,
    Overloaded,
    DependencyRefused,
    DependencyTimeout,
    DependencyUnresolvable,
    DependencyError,
    DependencySlow,
    PoolExhausted,
    TooManyConnections,
    ConnectionsExhausted,
    /// A server accepted a client's connection (logged with the client's address).
    ConnectionAccepted,
    ClientLost,
    MemoryPressure,
    OutOfMemory,
    ConfigRejected,
    Shutdown,
    Periodic,
    Egress,
    /// The software's own crash at start (a release with a regression): a panic, an uncaught exception.
    Crash,
}

impl Condition {
    pub const ALL: [Condition; 22] = [
        Condition::Starting,
        Condition::Ready,
        Condition::Request,
        Condition::SlowRequest,
        Condition::Overloaded,
        Condition::DependencyRefused,
        Condition::DependencyTimeout,
        Condition::DependencyUnresolvable,
        Condition::DependencyError,
        Condition::DependencySlow,
        Condition::PoolExhausted,
        Condition::TooManyConnections,
        Condition::ConnectionsExhausted,
        Condition::ConnectionAccepted,
        Condition::ClientLost,
        Condition::MemoryPressure,
        Condition::OutOfMemory,
        Condition::ConfigRejected,
        Condition::Shutdown,
        Condition::Periodic,
        Condition::Egress,
        Condition::Crash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Starting => "starting",
            Condition::Ready => "ready",
            Condition::Request => "request",
            Condition::SlowRequest => "slow_request",
            Condition::Overloaded => "overloaded",
            Condition::DependencyRefused => "dependency_refused",
            Condition::DependencyTimeout => "dependency_timeout",
            Condition::DependencyUnresolvable => "dependency_unresolvable",
            Condition::DependencyError => "dependency_error",
            Condition::DependencySlow => "dependency_slow",
            Condition::PoolExhausted => "pool_exhausted",
            Condition::TooManyConnections => "too_many_connections",
            Condition::ConnectionsExhausted => "connections_exhausted",
            Condition::ConnectionAccepted => "connection_accepted",
            Condition::ClientLost => "client_lost",
            Condition::MemoryPressure => "memory_pressure",
            Condition::OutOfMemory => "out_of_memory",
            Condition::ConfigRejected => "config_rejected",
            Condition::Shutdown => "shutdown",
            Condition::Periodic => "periodic",
            Condition::Egress => "egress",
            Condition::Crash => "crash",
        }
    }

    pub fn parse(text: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A parsed phrasing: literal text and `${name}` holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(String),
}

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            match rest[start + 2..].find('}') {
                Some(len) => {
                    if start > 0 {
                        parts.push(Part::Text(rest[..start].to_string()));
                    }
                    parts.push(Part::Var(rest[start + 2..start + 2 + len].to_string()));
                    rest = &rest[start + 3 + len..];
                }
                None => break,
            }
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Template { parts }
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Append the rendered text; an unknown variable is written back as `${name}`.
    pub fn render(&self, vars: &LogVars<'_>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(name) => {
                    if !vars.write(name, out) {
                        let _ = write!(out, "${{{name}}}");
                    }
                }
            }
        }
    }
}

type Table = HashMap<String, Vec<Template>>;

/// The built-in phrasings of every technology.
#[derive(Debug)]
pub struct PhraseBook {
    tables: HashMap<Technology, Table>,
}

impl PhraseBook {
    pub fn builtin() -> &'static PhraseBook {
        static BOOK: OnceLock<PhraseBook> = OnceLock::new();
        BOOK.get_or_init(|| {
            let raw: BTreeMap<Technology, BTreeMap<String, Vec<String>>> =
                serde_yaml_ng::from_str(include_str!("phrases.yaml")).expect("phrases.yaml is valid");
            let tables = raw
                .into_iter()
                .map(|(tech, conditions)| {
                    let table = conditions
                        .into_iter()
                        .map(|(key, lines)| (key, lines.iter().map(|l| Template::parse(l)).collect()))
                        .collect();
                    (tech, table)
                })
                .collect();
            PhraseBook { tables }
        })
    }

    pub fn keys(&self, technology: Technology) -> impl Iterator<Item = &str> {
        self.tables.get(&technology).into_iter().flat_map(|t| t.keys().map(String::as_str))
    }

    fn lookup(&self, technology: Technology, key: &str) -> Option<&[Template]> {
        self.tables.get(&technology)?.get(key).map(Vec::as_slice).filter(|l| !l.is_empty())
    }
}

/// How a service's own phrasings combine with its technology's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogMode {
    /// The service's phrasings join the technology's and are drawn among them.
    #[default]
    Extend,
    /// Only the service's phrasings are used for the conditions it lists.
    Replace,
}

/// The phrasings one service draws from.
#[derive(Debug, Clone)]
pub struct ServicePhrases {
    technology: Technology,
    own: Table,
    mode: LogMode,
}

impl ServicePhrases {
    pub fn new(technology: Technology, own: &BTreeMap<String, Vec<String>>, mode: LogMode) -> Self {
        let own =
            own.iter().map(|(key, lines)| (key.clone(), lines.iter().map(|l| Template::parse(l)).collect())).collect();
        ServicePhrases { technology, own, mode }
    }

    /// Draw one phrasing for a condition (the protocol-specific key first), or `None` if the software
    /// writes nothing in that condition.
    pub fn choose(&self, condition: Condition, protocol: Option<Protocol>, rng: &mut impl Rng) -> Option<&Template> {
        let book = PhraseBook::builtin();
        let specific = protocol.map(|p| format!("{}.{}", condition.as_str(), p.as_str()));
        for key in specific.iter().map(String::as_str).chain([condition.as_str()]) {
            let own = self.own.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let builtin = match self.mode {
                LogMode::Replace if !own.is_empty() => &[][..],
                _ => book.lookup(self.technology, key).unwrap_or(&[]),
            };
            let total = own.len() + builtin.len();
            if total == 0 {
                continue;
            }
            let pick = rng.random_range(0..total);
            return Some(if pick < own.len() { &own[pick] } else { &builtin[pick - own.len()] });
        }
        None
    }
}

/// The facts a log line can mention. Unset facts render as `-`.
#[derive(Debug, Clone, Default)]
pub struct LogVars<'a> {
    pub now: Option<Timestamp>,
    /// Per-line randomness for ids, pids and thread numbers.
    pub noise: u64,
    pub service: &'a str,
    pub pod: &'a str,
    pub port: u16,
    pub version: &'a str,
    pub uptime_ms: u64,
    pub startup_s: f64,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub bytes: u64,
    pub client_ip: &'a str,
    pub dep: &'a str,
    pub dep_host: &'a str,
    pub dep_ip: &'a str,
    pub dep_port: u16,
    pub dep_latency_ms: f64,
    pub db: &'a str,
    pub db_user: &'a str,
    pub pool: u32,
    pub pool_active: u32,
    pub pool_waiting: u32,
    pub conn_count: u32,
    pub used_bytes: u64,
    pub heap_bytes: u64,
    pub key: &'a str,
    pub value: &'a str,
    pub expected: &'a str,
    pub egress_address: &'a str,
}

/// Every variable name `LogVars` knows; the tests check the table uses no other.
pub const VARIABLES: [&str; 61] = [
    "ts_iso",
    "ts_epoch",
    "ts_epoch_ms",
    "ts_epoch_s",
    "ts_go",
    "ts_pg",
    "ts_redis",
    "ts_mysql",
    "ts_mongo",
    "ts_py",
    "ts_gunicorn",
    "ts_clf",
    "pid",
    "thread",
    "req_id",
    "req_n",
    "conn_id",
    "uuid",
    "client_port",
    "buffers",
    "service",
    "pod",
    "port",
    "version",
    "uptime_ms",
    "startup_s",
    "startup_s_plus",
    "method",
    "path",
    "status",
    "latency_ms",
    "bytes",
    "client_ip",
    "user_agent",
    "dep",
    "dep_host",
    "dep_ip",
    "dep_port",
    "dep_path",
    "dep_class",
    "dep_latency_ms",
    "db",
    "db_user",
    "collection",
    "pool",
    "pool_active",
    "pool_waiting",
    "conn_count",
    "used_mb",
    "heap_mb",
    "used_bytes",
    "heap_bytes",
    "key",
    "key_lower",
    "key_property",
    "value",
    "expected",
    "java_type",
    "java_package",
    "java_class",
    "egress_address",
];

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl LogVars<'_> {
    fn noise(&self, salt: u64, modulo: u64) -> u64 {
        // SplitMix64 of the line's noise and a salt: distinct, stable values per variable.
        let mut z = self.noise.wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % modulo.max(1)
    }

    /// Write variable `name`; `false` when it is not a known variable.
    pub fn write(&self, name: &str, out: &mut String) -> bool {
        if name.starts_with("ts_") {
            return self.write_time(name, out);
        }
        fn put(out: &mut String, s: &str) -> std::fmt::Result {
            out.push_str(s);
            Ok(())
        }
        let dash = |s: &str, out: &mut String| put(out, if s.is_empty() { "-" } else { s });
        let _ = match name {
            "pid" => write!(out, "{}", 40 + self.noise(1, 400)),
            "thread" => write!(out, "{}", 1 + self.noise(2, 10)),
            "req_id" => write!(out, "{:016x}", self.noise(3, u64::MAX)),
            "req_n" => write!(out, "{}", 1 + self.noise(4, 90_000)),
            "conn_id" => write!(out, "{}", 10 + self.noise(5, 9_000)),
            "uuid" => {
                let (a, b) = (self.noise(6, u64::MAX), self.noise(7, u64::MAX));
                write!(
                    out,
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    0x8000 | (b >> 48) & 0x3fff,
                    b & 0xffff_ffff_ffff
                )
            }
            "client_port" => write!(out, "{}", 32768 + self.noise(8, 28_000)),
            "buffers" => write!(out, "{}", 5 + self.noise(9, 90)),
            "service" => dash(self.service, out),
            "pod" => dash(self.pod, out),
            "port" => write!(out, "{}", self.port),
            "version" => dash(self.version, out),
            "uptime_ms" => write!(out, "{}", self.uptime_ms),
            "startup_s" => write!(out, "{:.3}", self.startup_s),
            "startup_s_plus" => write!(out, "{:.3}", self.startup_s + 1.2),
            "method" => put(out, if self.method.is_empty() { "GET" } else { self.method }),
            "path" => put(out, if self.path.is_empty() { "/" } else { self.path }),
            "status" => write!(out, "{}", if self.status == 0 { 200 } else { self.status }),
            "latency_ms" => write!(out, "{}", self.latency_ms.round() as u64),
            "bytes" => write!(out, "{}", self.bytes),
            "client_ip" => dash(self.client_ip, out),
            "user_agent" => put(out, "python-requests/2.32.3"),
            "dep" => dash(self.dep, out),
            "dep_host" => dash(self.dep_host, out),
            "dep_ip" => dash(self.dep_ip, out),
            "dep_port" => write!(out, "{}", self.dep_port),
            "dep_path" => write!(out, "/api/v1/{}", self.dep),
            "dep_class" => put(out, &camel(self.dep)),
            "dep_latency_ms" => write!(out, "{}", self.dep_latency_ms.round() as u64),
            "db" => dash(self.db, out),
            "db_user" => dash(self.db_user, out),
            "collection" => dash(self.service, out),
            "pool" => write!(out, "{}", self.pool),
            "pool_active" => write!(out, "{}", self.pool_active),
            "pool_waiting" => write!(out, "{}", self.pool_waiting),
            "conn_count" => write!(out, "{}", self.conn_count),
            "used_mb" => write!(out, "{}", self.used_bytes >> 20),
            "heap_mb" => write!(out, "{}", self.heap_bytes >> 20),
            "used_bytes" => write!(out, "{}", self.used_bytes),
            "heap_bytes" => write!(out, "{}", self.heap_bytes),
            "key" => dash(self.key, out),
            "key_lower" => put(out, &self.key.to_ascii_lowercase()),
            "key_property" => put(out, &property_name(self.key)),
            "value" => put(out, self.value),
            "expected" => dash(self.expected, out),
            "java_type" => put(
                out,
                if self.expected.contains("integer") {
                    "java.lang.Integer"
                } else if self.expected.contains("duration") {
                    "java.time.Duration"
                } else {
                    "java.lang.String"
                },
            ),
            "java_package" => write!(out, "com.example.{}", self.service.replace('-', "")),
            "java_class" => write!(out, "{}Application", camel(self.service)),
            "egress_address" => dash(self.egress_address, out),
            _ => return false,
        };
        true
    }

    fn write_time(&self, name: &str, out: &mut String) -> bool {
        let now = self.now.unwrap_or(Timestamp::UNIX_EPOCH);
        let dt = now.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        let (y, mo, d) = (dt.year(), dt.month(), dt.day());
        let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
        let ms = dt.subsec_nanosecond() / 1_000_000;
        let us = dt.subsec_nanosecond() / 1_000;
        let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
        let _ = match name {
            "ts_iso" => write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z"),
            "ts_epoch" => write!(out, "{}.{:06}", now.as_second(), us),
            "ts_epoch_ms" => write!(out, "{}", now.as_millisecond()),
            "ts_epoch_s" => write!(out, "{}", now.as_second()),
            "ts_go" => write!(out, "{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}"),
            "ts_pg" => write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03} UTC"),
            "ts_redis" => write!(out, "{d:02} {month} {y:04} {h:02}:{mi:02}:{s:02}.{ms:03}"),
            "ts_mysql" => write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z"),
            "ts_mongo" => write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}+00:00"),
            "ts_py" => write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{ms:03}"),
            "ts_gunicorn" => write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000"),
            "ts_clf" => write!(out, "{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} +0000"),
            _ => return false,
        };
        true
    }
}

/// `cart-redis` → `CartRedis`.
fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Spring's relaxed binding: `PAYMENT_TIMEOUT_MS` → `payment.timeout-ms`.
fn property_name(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    match lower.split_once('_') {
        Some((head, tail)) => format!("{head}.{}", tail.replace('_', "-")),
        None => lower,
    }
}

#[cfg(test)]
mod tests;
