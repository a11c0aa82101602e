//! What each technology the lab simulates is like: ports, protocols, start-up times, how its process
//! exits on bad configuration, and how a client of it names its address in the environment.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Technology {
    Go,
    Java,
    Node,
    Python,
    Postgres,
    Mysql,
    Redis,
    Mongodb,
    Memcached,
}

/// The wire protocol a dependency is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Grpc,
    Postgres,
    Mysql,
    Redis,
    Mongodb,
    Memcached,
}

impl Technology {
    pub const ALL: [Technology; 9] = [
        Technology::Go,
        Technology::Java,
        Technology::Node,
        Technology::Python,
        Technology::Postgres,
        Technology::Mysql,
        Technology::Redis,
        Technology::Mongodb,
        Technology::Memcached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Technology::Go => "go",
            Technology::Java => "java",
            Technology::Node => "node",
            Technology::Python => "python",
            Technology::Postgres => "postgres",
            Technology::Mysql => "mysql",
            Technology::Redis => "redis",
            Technology::Mongodb => "mongodb",
            Technology::Memcached => "memcached",
        }
    }

    /// A data store (it accepts client connections up to `max_connections` and serves no HTTP).
    pub fn is_datastore(self) -> bool {
        matches!(
            self,
            Technology::Postgres | Technology::Mysql | Technology::Redis | Technology::Mongodb | Technology::Memcached
        )
    }

    pub fn default_port(self) -> u16 {
        match self {
            Technology::Go | Technology::Java | Technology::Node => 8080,
            Technology::Python => 8000,
            Technology::Postgres => 5432,
            Technology::Mysql => 3306,
            Technology::Redis => 6379,
            Technology::Mongodb => 27017,
            Technology::Memcached => 11211,
        }
    }

    /// The protocol clients use to call a service of this technology.
    pub fn default_protocol(self) -> Protocol {
        match self {
            Technology::Go | Technology::Java | Technology::Node | Technology::Python => Protocol::Http,
            Technology::Postgres => Protocol::Postgres,
            Technology::Mysql => Protocol::Mysql,
            Technology::Redis => Protocol::Redis,
            Technology::Mongodb => Protocol::Mongodb,
            Technology::Memcached => Protocol::Memcached,
        }
    }

    /// How long the process takes from exec to serving (JVMs warm up; Redis is up at once).
    pub fn default_startup(self) -> Duration {
        match self {
            Technology::Go => Duration::from_secs(2),
            Technology::Java => Duration::from_secs(20),
            Technology::Node => Duration::from_secs(3),
            Technology::Python => Duration::from_secs(4),
            Technology::Postgres => Duration::from_secs(4),
            Technology::Mysql => Duration::from_secs(12),
            Technology::Redis | Technology::Memcached => Duration::from_secs(1),
            Technology::Mongodb => Duration::from_secs(3),
        }
    }

    /// The exit code of the process when it refuses its configuration at start-up.
    pub fn config_error_exit_code(self) -> i32 {
        match self {
            // mongod exits with EXIT_BADOPTIONS; memcached with EX_USAGE.
            Technology::Mongodb => 2,
            Technology::Memcached => 64,
            _ => 1,
        }
    }

    /// The exit code of an unhandled crash: a Go panic exits 2, a Python traceback and an uncaught
    /// exception in Java or Node exit 1, a datastore's assertion aborts (SIGABRT, 134).
    pub fn crash_exit_code(self) -> i32 {
        match self {
            Technology::Go => 2,
            Technology::Java | Technology::Node | Technology::Python => 1,
            _ => 134,
        }
    }

    /// The exit code when the runtime itself gives up on memory before the kernel does: the JVM with
    /// `-XX:+ExitOnOutOfMemoryError` exits 3; V8 aborts (SIGABRT, 134); Go's runtime throws (exit 2).
    pub fn runtime_oom_exit_code(self) -> Option<i32> {
        match self {
            Technology::Java => Some(3),
            Technology::Node => Some(134),
            Technology::Go => Some(2),
            _ => None,
        }
    }

    /// Guess the technology of an image the topology does not describe, from its repository name.
    pub fn from_image(image: &str) -> Option<Technology> {
        let repository = image.rsplit('/').next().unwrap_or(image);
        let name = repository.split([':', '@']).next().unwrap_or(repository);
        match name {
            "postgres" | "postgresql" => Some(Technology::Postgres),
            "mysql" | "mariadb" => Some(Technology::Mysql),
            "redis" | "valkey" => Some(Technology::Redis),
            "mongo" | "mongodb" => Some(Technology::Mongodb),
            "memcached" => Some(Technology::Memcached),
            "openjdk" | "eclipse-temurin" | "amazoncorretto" => Some(Technology::Java),
            "node" => Some(Technology::Node),
            "python" => Some(Technology::Python),
            "golang" => Some(Technology::Go),
            _ => None,
        }
    }
}

impl fmt::Display for Technology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Postgres => "postgres",
            Protocol::Mysql => "mysql",
            Protocol::Redis => "redis",
            Protocol::Mongodb => "mongodb",
            Protocol::Memcached => "memcached",
        }
    }

    /// The environment variable a client conventionally reads the address from (`REDIS_ADDR`,
    /// `DATABASE_URL`, Spring's `SPRING_DATASOURCE_URL`, `CATALOG_ADDR`), given the dependency's name.
    pub fn default_env_name(self, client: Technology, service: &str) -> String {
        let upper: String =
            service.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        match self {
            Protocol::Postgres | Protocol::Mysql if client == Technology::Java => "SPRING_DATASOURCE_URL".to_string(),
            Protocol::Postgres | Protocol::Mysql => "DATABASE_URL".to_string(),
            Protocol::Redis => "REDIS_ADDR".to_string(),
            Protocol::Mongodb => "MONGO_URL".to_string(),
            Protocol::Memcached => "MEMCACHED_SERVERS".to_string(),
            Protocol::Http => format!("{upper}_URL"),
            Protocol::Grpc => format!("{upper}_ADDR"),
        }
    }

    /// The address value as a client's configuration writes it (`postgres://orders-db:5432/orders`,
    /// a JDBC URL for Java clients).
    pub fn address_value(self, client: Technology, host: &str, port: u16, database: &str) -> String {
        match self {
            Protocol::Postgres if client == Technology::Java => format!("jdbc:postgresql://{host}:{port}/{database}"),
            Protocol::Mysql if client == Technology::Java => format!("jdbc:mysql://{host}:{port}/{database}"),
            Protocol::Postgres => format!("postgres://{database}@{host}:{port}/{database}?sslmode=disable"),
            Protocol::Mysql => format!("mysql://{database}@{host}:{port}/{database}"),
            Protocol::Mongodb => format!("mongodb://{host}:{port}/{database}"),
            Protocol::Http => format!("http://{host}:{port}"),
            Protocol::Redis | Protocol::Memcached | Protocol::Grpc => format!("{host}:{port}"),
        }
    }

    /// Whether calls over this protocol hold pooled connections (database drivers do; HTTP clients in
    /// the lab's languages reuse keep-alive connections without a hard cap).
    pub fn is_pooled(self) -> bool {
        !matches!(self, Protocol::Http | Protocol::Grpc)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `host` and `port` from an address value (`redis://cart-redis:6379/0`, `cart-redis:6379`,
/// `postgres://u:p@orders-db:5432/orders`, `http://catalog:8080`).
pub fn parse_address(value: &str) -> Option<(String, Option<u16>)> {
    let without_scheme = value.split_once("://").map_or(value, |(_, rest)| rest);
    let authority = without_scheme.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // A comma-separated server list (`MEMCACHED_SERVERS=a:11211,b:11211`): the first one names the service.
    let host_port = host_port.split(',').next()?;
    if host_port.is_empty() {
        return None;
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok())),
        None => Some((host_port.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_like_client_libraries_read_them() {
        let cases = [
            ("cart-redis:6379", "cart-redis", Some(6379)),
            ("postgres://orders@orders-db:5432/orders?sslmode=disable", "orders-db", Some(5432)),
            ("http://catalog:8080", "catalog", Some(8080)),
            (
                "mongodb://user:pw@geo-db.hotel.svc.cluster.local:27017/geo",
                "geo-db.hotel.svc.cluster.local",
                Some(27017),
            ),
            ("memcached-rate:11211,memcached-rate-2:11211", "memcached-rate", Some(11211)),
            ("jdbc:postgresql://orders-db:5432/orders", "orders-db", Some(5432)),
            ("catalog", "catalog", None),
        ];
        for (value, host, port) in cases {
            assert_eq!(parse_address(value), Some((host.to_string(), port)), "{value}");
        }
        assert_eq!(parse_address(""), None);
    }

    #[test]
    fn env_names_follow_conventions() {
        assert_eq!(Protocol::Redis.default_env_name(Technology::Node, "cart-redis"), "REDIS_ADDR");
        assert_eq!(Protocol::Grpc.default_env_name(Technology::Go, "product-catalog"), "PRODUCT_CATALOG_ADDR");
        assert_eq!(Protocol::Postgres.default_env_name(Technology::Java, "orders-db"), "SPRING_DATASOURCE_URL");
        assert_eq!(
            Protocol::Postgres.address_value(Technology::Go, "orders-db", 5432, "orders"),
            "postgres://orders@orders-db:5432/orders?sslmode=disable"
        );
        assert_eq!(
            Protocol::Postgres.address_value(Technology::Java, "orders-db", 5432, "orders"),
            "jdbc:postgresql://orders-db:5432/orders"
        );
    }

    #[test]
    fn images_reveal_well_known_technologies() {
        assert_eq!(Technology::from_image("docker.io/library/postgres:16.2"), Some(Technology::Postgres));
        assert_eq!(Technology::from_image("redis:7.2-alpine"), Some(Technology::Redis));
        assert_eq!(Technology::from_image("registry.example/shop/cart:1.2.0"), None);
    }
}
