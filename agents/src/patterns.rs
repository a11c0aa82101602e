//! What log lines of real software mean.
//!
//! Each pattern is written against the messages real runtimes and servers print (Go's net package, Node's
//! libuv errors, Java and Netty exceptions, Python's requests/redis-py/psycopg2, PostgreSQL, MySQL, Redis,
//! MongoDB drivers, HikariCP, SQLAlchemy, xmrig). Nothing here knows about any particular cluster.
use regex::{Regex, RegexSet};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The far end of a connection a log line talks about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub host: String,
    pub port: Option<u16>,
}

/// A fact a log line states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogSignal {
    /// The peer actively refused the connection: nothing listens there.
    ConnectionRefused,
    /// The peer did not answer in time.
    Timeout,
    /// The peer's name does not resolve.
    DnsFailure,
    /// A proxy or client reports the peer unavailable (gRPC Unavailable, 503, no healthy upstream).
    Unavailable,
    /// The process ran out of memory (heap limit, allocation failure).
    OutOfMemory,
    /// A database server refuses new connections because it has too many.
    TooManyConnections,
    /// A client's connection pool has no free connection.
    PoolExhausted,
    /// A client's pool reports connections that were taken and never returned.
    ConnectionLeak,
    /// The process rejects its configuration.
    ConfigInvalid,
    /// Cryptocurrency-mining activity (stratum protocol, known miners and pools).
    Mining,
    /// An unhandled crash (panic, uncaught exception, segfault).
    Crash,
    /// The process cannot keep up with its own work: its handlers time out, it sheds load, its workers
    /// are killed for taking too long.
    Overloaded,
}

impl LogSignal {
    pub fn describe(self) -> &'static str {
        match self {
            LogSignal::ConnectionRefused => "connection refused",
            LogSignal::Timeout => "timeout",
            LogSignal::DnsFailure => "name resolution failure",
            LogSignal::Unavailable => "peer unavailable",
            LogSignal::OutOfMemory => "out of memory",
            LogSignal::TooManyConnections => "too many connections",
            LogSignal::PoolExhausted => "connection pool exhausted",
            LogSignal::ConnectionLeak => "connection leak",
            LogSignal::ConfigInvalid => "invalid configuration",
            LogSignal::Mining => "cryptocurrency mining",
            LogSignal::Crash => "unhandled crash",
            LogSignal::Overloaded => "overloaded",
        }
    }

    /// Signals that say a peer is unreachable or failing.
    pub fn is_peer_failure(self) -> bool {
        matches!(
            self,
            LogSignal::ConnectionRefused | LogSignal::Timeout | LogSignal::DnsFailure | LogSignal::Unavailable
        )
    }
}

const SIGNALS: [LogSignal; 12] = [
    LogSignal::ConnectionRefused,
    LogSignal::Timeout,
    LogSignal::DnsFailure,
    LogSignal::Unavailable,
    LogSignal::OutOfMemory,
    LogSignal::TooManyConnections,
    LogSignal::PoolExhausted,
    LogSignal::ConnectionLeak,
    LogSignal::ConfigInvalid,
    LogSignal::Mining,
    LogSignal::Crash,
    LogSignal::Overloaded,
];

/// One alternation per signal, in the order of `SIGNALS`.
static SIGNAL_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        // connection refused
        r"(?i)connection refused|ECONNREFUSED|Errno 111|actively refused",
        // timeout
        r"(?i)i/o timeout|timed out|ETIMEDOUT|ESOCKETTIMEDOUT|deadline exceeded|DeadlineExceeded|Timeout exceeded|SocketTimeoutException|ReadTimeout|ConnectTimeout|upstream request timeout|request timeout",
        // dns
        r"(?i)no such host|ENOTFOUND|EAI_AGAIN|UnknownHostException|Name or service not known|Temporary failure in name resolution|could not translate host name",
        // unavailable
        r"(?i)code = Unavailable|503 Service Unavailable|no healthy upstream|upstream connect error|connection reset by peer|ECONNRESET|broken pipe|server closed the connection unexpectedly|Connection is closed",
        // out of memory
        r"(?i)OutOfMemoryError|runtime: out of memory|JavaScript heap out of memory|Reached heap limit|Allocation failed|\bMemoryError\b|Cannot allocate memory|std::bad_alloc|out of memory",
        // too many connections (server side, and clients quoting it)
        r"(?i)too many clients already|remaining connection slots are reserved|Too many connections|ER_CON_COUNT_ERROR|connection limit exceeded|max_connections|maximum number of clients reached",
        // pool exhausted
        r"(?i)Connection is not available, request timed out|QueuePool limit of size|pool exhausted|timeout exceeded when trying to connect|could not obtain connection|MongoWaitQueueFullError|waiting for a connection from the pool|connection pool.*(full|exhausted)",
        // connection leak
        r"(?i)leak detection triggered|connection leak|apparent connection leak|unreturned connection|connections? not (?:returned|closed)",
        // config invalid
        r"(?i)invalid configuration|invalid config|APPLICATION FAILED TO START|Failed to bind properties|FATAL CONFIG FILE ERROR|flag provided but not defined|invalid value for (?:flag|parameter|option)|invalid literal for int|unknown (?:configuration )?(?:option|directive|setting)|configuration error|config(?:uration)? (?:file )?(?:is )?invalid|could not parse config|Bad directive|must be (?:a|an) (?:integer|number|boolean)|required (?:environment variable|configuration|setting)|missing required (?:environment|config)",
        // mining
        r"(?i)stratum\+(?:tcp|ssl)://|\bxmrig\b|cryptonight|\brandomx\b|minexmr|supportxmr|nanopool|2miners|mining pool|new job from|\bhashrate\b",
        // crash
        r"(?i)^panic:|goroutine \d+ \[running\]|Traceback \(most recent call last\)|Exception in thread|Unhandled(?:Promise)?Rejection|uncaughtException|segmentation fault|SIGSEGV|core dumped",
        // overloaded: gunicorn's worker timeout, Node's event-loop lag, a handler's own deadline
        r#"(?i)WORKER TIMEOUT|shedding load|event loop lag|handler timed out|Servlet\.service\(\).*TimeoutException|server (?:is )?overloaded|RejectedExecutionException|"status":\s*50[34]\b.*context deadline exceeded"#,
    ])
    .expect("log signal patterns compile")
});

/// `host:port` as Go, Node, Netty and most clients print it; `host='x', port=N` (Python urllib3);
/// `server at "x" (ip), port N` (libpq); `connecting to x:N` (redis-py).
static PEER_PATTERNS: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        Regex::new(r#"host='([A-Za-z0-9_.-]+)', port=(\d{1,5})"#).expect("urllib3 peer"),
        Regex::new(r#"server at "([A-Za-z0-9_.-]+)"(?: \([0-9a-fA-F.:]+\))?, port (\d{1,5})"#).expect("libpq peer"),
        Regex::new(
            r#"(?:^|[\s/@(\[,="'])((?:\d{1,3}\.){3}\d{1,3}|[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*):(\d{2,5})\b"#,
        )
        .expect("host:port peer"),
    ]
});

/// A connection string's `host=<name>` (libpq, lib/pq, pgx: "failed to connect to `host=orders-db
/// user=app database=orders`"), with its `port=` when given.
static DSN_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bhost=([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*)(?:\s+port=(\d{1,5}))?").expect("dsn host pattern")
});

/// `lookup <name> on <dns>` (Go), `getaddrinfo ENOTFOUND <name>` (Node), `UnknownHostException: <name>` (Java).
static DNS_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:lookup ([A-Za-z0-9.-]+) on|ENOTFOUND ([A-Za-z0-9.-]+)|UnknownHostException: ([A-Za-z0-9.-]+)|translate host name \x22([A-Za-z0-9.-]+)\x22)")
        .expect("dns name pattern")
});

/// The signals a line states, in a fixed order.
pub fn classify(line: &str) -> impl Iterator<Item = LogSignal> {
    SIGNAL_SET.matches(line).into_iter().map(|i| SIGNALS[i])
}

/// Whether the line states `signal`.
pub fn states(line: &str, signal: LogSignal) -> bool {
    classify(line).any(|s| s == signal)
}

/// The peer a line talks about, if it names one. DNS servers (port 53) are skipped: a failed lookup is
/// about the name looked up, which is returned instead.
pub fn peer(line: &str) -> Option<Peer> {
    if let Some(caps) = DNS_NAME.captures(line) {
        let host = (1..=4).find_map(|i| caps.get(i)).map(|m| m.as_str().trim_end_matches('.'))?;
        return Some(Peer { host: host.to_string(), port: None });
    }
    for pattern in PEER_PATTERNS.iter() {
        for caps in pattern.captures_iter(line) {
            let host = &caps[1];
            let port: u16 = match caps[2].parse() {
                Ok(p) if p > 0 => p,
                _ => continue,
            };
            if port == 53 || looks_like_time(host, port) {
                continue;
            }
            return Some(Peer { host: host.to_string(), port: Some(port) });
        }
    }
    let caps = DSN_HOST.captures(line)?;
    let port = caps.get(2).and_then(|p| p.as_str().parse().ok()).filter(|p| *p > 0);
    Some(Peer { host: caps[1].to_string(), port })
}

/// Every `host:port` a line names, in order (a line may name its source file before its peer).
pub fn peers(line: &str) -> impl Iterator<Item = Peer> + '_ {
    PEER_PATTERNS.iter().flat_map(move |pattern| {
        pattern.captures_iter(line).filter_map(|caps| {
            let port: u16 = caps[2].parse().ok().filter(|p| *p > 0 && *p != 53)?;
            let host = &caps[1];
            (!looks_like_time(host, port)).then(|| Peer { host: host.to_string(), port: Some(port) })
        })
    })
}

/// The client addresses of the connections a data store accepted, counted from its own log (oldest line
/// first): PostgreSQL with `log_connections` ("connection received: host=…", then "connection authorized"
/// from the same backend pid; a received connection that was refused is not counted) and MongoDB's
/// network log ("Connection accepted" with the remote address).
pub fn accepted_connections<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    static PG_RECEIVED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[(\d+)\].*?connection received: host=([0-9A-Fa-f.:]+)").expect("valid"));
    static PG_AUTHORIZED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[(\d+)\].*?connection authorized:").expect("valid"));
    static MONGO_ACCEPTED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#""msg":"Connection accepted".*?"remote":"([0-9A-Fa-f.:]+?):\d+""#).expect("valid")
    });
    let mut received: BTreeMap<&str, &str> = BTreeMap::new();
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    for line in lines {
        if line.contains("connection received") {
            if let Some(caps) = PG_RECEIVED.captures(line) {
                let (pid, host) = (caps.get(1).map_or("", |m| m.as_str()), caps.get(2).map_or("", |m| m.as_str()));
                received.insert(pid, host);
            }
        } else if line.contains("connection authorized") {
            let pid = PG_AUTHORIZED.captures(line).and_then(|caps| caps.get(1)).map(|m| m.as_str());
            if let Some(host) = pid.and_then(|pid| received.remove(pid)) {
                *accepted.entry(host).or_default() += 1;
            }
        } else if line.contains("Connection accepted")
            && let Some(host) = MONGO_ACCEPTED.captures(line).and_then(|caps| caps.get(1))
        {
            *accepted.entry(host.as_str()).or_default() += 1;
        }
    }
    accepted
}

/// `12:30` in a timestamp is not a peer.
fn looks_like_time(host: &str, port: u16) -> bool {
    host.chars().all(|c| c.is_ascii_digit()) && port < 60
}

/// Whether an IPv4 address lies outside the ranges a cluster uses for itself (private, loopback,
/// link-local, carrier-grade NAT): an address beyond the cluster's network.
pub fn is_external_ipv4(host: &str) -> bool {
    let Ok(ip) = host.parse::<std::net::Ipv4Addr>() else { return false };
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || (a == 100 && (64..128).contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_are_counted_by_client_and_refused_ones_are_not() {
        let log = [
            "2026-03-01 12:00:00.000 UTC [311] LOG:  connection received: host=10.244.2.7 port=51234",
            "2026-03-01 12:00:00.000 UTC [311] LOG:  connection authorized: user=orders database=orders",
            "2026-03-01 12:00:01.000 UTC [312] LOG:  connection received: host=10.244.2.7 port=51240",
            "2026-03-01 12:00:01.000 UTC [313] LOG:  connection received: host=10.244.3.5 port=40001",
            "2026-03-01 12:00:01.000 UTC [312] LOG:  connection authorized: user=orders database=orders application_name=psql",
            "2026-03-01 12:00:01.000 UTC [313] FATAL:  sorry, too many clients already",
            r#"{"t":{"$date":"2026-03-01T12:00:02.000+00:00"},"s":"I",  "c":"NETWORK",  "id":22943,   "ctx":"listener","msg":"Connection accepted","attr":{"remote":"10.244.1.4:40112","uuid":{"uuid":{"$uuid":"0b1c"}},"connectionId":12,"connectionCount":9}}"#,
            r#"{"t":{"$date":"2026-03-01T12:00:02.000+00:00"},"s":"I",  "c":"NETWORK",  "id":22942,   "ctx":"listener","msg":"Connection refused because there are too many open connections","attr":{"remote":"10.244.1.4:40113","connectionCount":100}}"#,
        ];
        let counted = accepted_connections(log);
        assert_eq!(counted, BTreeMap::from([("10.244.1.4", 1), ("10.244.2.7", 2)]));
    }

    fn signals(line: &str) -> Vec<LogSignal> {
        classify(line).collect()
    }

    #[test]
    fn real_lines_mean_what_they_say() {
        let table: &[(&str, LogSignal)] = &[
            ("dial tcp 10.96.12.4:6379: connect: connection refused", LogSignal::ConnectionRefused),
            ("Error: connect ECONNREFUSED 10.96.0.15:5432", LogSignal::ConnectionRefused),
            (
                "redis.exceptions.ConnectionError: Error 111 connecting to cart-redis:6379. Connection refused.",
                LogSignal::ConnectionRefused,
            ),
            (
                "io.netty.channel.AbstractChannel$AnnotatedConnectException: Connection refused: redis/10.0.0.1:6379",
                LogSignal::ConnectionRefused,
            ),
            ("rpc error: code = DeadlineExceeded desc = context deadline exceeded", LogSignal::Timeout),
            ("java.net.SocketTimeoutException: Read timed out", LogSignal::Timeout),
            (
                "requests.exceptions.ReadTimeout: HTTPConnectionPool(host='currency', port=7000): Read timed out. (read timeout=2)",
                LogSignal::Timeout,
            ),
            ("dial tcp: lookup payment on 10.96.0.10:53: no such host", LogSignal::DnsFailure),
            ("rpc error: code = Unavailable desc = connection error", LogSignal::Unavailable),
            ("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space", LogSignal::OutOfMemory),
            ("fatal error: runtime: out of memory", LogSignal::OutOfMemory),
            (
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
                LogSignal::OutOfMemory,
            ),
            ("MemoryError", LogSignal::OutOfMemory),
            ("[2026-03-01 12:00:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:7)", LogSignal::Overloaded),
            (
                r#"{"level":50,"msg":"request errored","err":{"message":"event loop lag 1840ms, shedding load"}}"#,
                LogSignal::Overloaded,
            ),
            (
                r#"{"level":"error","msg":"request failed","path":"/api/products","status":503,"error":"context deadline exceeded"}"#,
                LogSignal::Overloaded,
            ),
            ("FATAL:  sorry, too many clients already", LogSignal::TooManyConnections),
            (
                "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
                LogSignal::TooManyConnections,
            ),
            ("ERROR 1040 (08004): Too many connections", LogSignal::TooManyConnections),
            ("HikariPool-1 - Connection is not available, request timed out after 30000ms.", LogSignal::PoolExhausted),
            (
                "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30",
                LogSignal::PoolExhausted,
            ),
            (
                "HikariPool-1 - Connection leak detection triggered for org.postgresql.jdbc.PgConnection@5d1b9c2a",
                LogSignal::ConnectionLeak,
            ),
            ("*** FATAL CONFIG FILE ERROR (Redis 7.0.11) ***", LogSignal::ConfigInvalid),
            ("APPLICATION FAILED TO START", LogSignal::ConfigInvalid),
            ("ValueError: invalid literal for int() with base 10: 'fast'", LogSignal::ConfigInvalid),
            (
                "[2026-03-01 12:00:00.123]  net      use pool stratum+tcp://pool.supportxmr.com:3333 45.9.148.21",
                LogSignal::Mining,
            ),
            ("panic: runtime error: invalid memory address or nil pointer dereference", LogSignal::Crash),
        ];
        for (line, expected) in table {
            assert!(signals(line).contains(expected), "{line:?} should state {expected:?}, got {:?}", signals(line));
        }
    }

    #[test]
    fn ordinary_lines_state_nothing() {
        for line in [
            "GET /api/cart 200 12ms",
            "2026-03-01T12:00:01.123Z INFO  c.s.Checkout - order 4411 placed",
            "Ready to accept connections tcp",
            "database system is ready to accept connections",
        ] {
            assert!(signals(line).is_empty(), "{line:?} stated {:?}", signals(line));
        }
    }

    #[test]
    fn every_peer_of_a_line_is_found() {
        let line = r#"{"level":"debug","caller":"telemetry/exporter.go:88","msg":"flushed batch","endpoint":"198.51.100.7:3333"}"#;
        let found: Vec<(String, Option<u16>)> = peers(line).map(|p| (p.host, p.port)).collect();
        assert_eq!(found, [("exporter.go".to_string(), Some(88)), ("198.51.100.7".to_string(), Some(3333))]);
    }

    #[test]
    fn peers_are_found_in_every_client_phrasing() {
        let table: &[(&str, &str, Option<u16>)] = &[
            ("dial tcp 10.96.12.4:6379: connect: connection refused", "10.96.12.4", Some(6379)),
            ("Error: connect ECONNREFUSED 10.96.0.15:5432", "10.96.0.15", Some(5432)),
            ("Error 111 connecting to cart-redis:6379. Connection refused.", "cart-redis", Some(6379)),
            (
                r#"{"level":20,"msg":"beacon sent","target":"203.0.113.50:4444","bytes":1024}"#,
                "203.0.113.50",
                Some(4444),
            ),
            ("HTTPConnectionPool(host='currency', port=7000): Read timed out.", "currency", Some(7000)),
            (
                "connection to server at \"orders-db\" (10.96.0.9), port 5432 failed: Connection refused",
                "orders-db",
                Some(5432),
            ),
            ("dial tcp: lookup payment on 10.96.0.10:53: no such host", "payment", None),
            ("java.net.UnknownHostException: catalog.shop.svc.cluster.local", "catalog.shop.svc.cluster.local", None),
            ("2026-03-01 12:30:01 ERROR upstream http://checkout:8080/api failed", "checkout", Some(8080)),
            (
                "failed to connect to `host=orders-db user=orders database=orders`: server error (FATAL: sorry, too many clients already (SQLSTATE 53300))",
                "orders-db",
                None,
            ),
            ("pq: could not connect: host=ledger-db port=5432 user=app: too many clients", "ledger-db", Some(5432)),
        ];
        for (line, host, port) in table {
            let peer = peer(line).unwrap_or_else(|| panic!("no peer in {line:?}"));
            assert_eq!((peer.host.as_str(), peer.port), (*host, *port), "{line:?}");
        }
        assert_eq!(peer("12:30:01 all good"), None);
    }

    #[test]
    fn external_addresses_are_told_from_cluster_ones() {
        assert!(is_external_ipv4("45.9.148.21"));
        assert!(is_external_ipv4("203.0.113.50"));
        for private in ["10.96.0.1", "192.168.1.1", "172.20.0.5", "127.0.0.1", "100.64.3.2", "169.254.0.1"] {
            assert!(!is_external_ipv4(private), "{private}");
        }
        assert!(!is_external_ipv4("redis"));
    }
}
