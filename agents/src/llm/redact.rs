//! Secrets never leave the process: before any text of the context is sent to a model, tokens,
//! passwords, keys and the credentials of connection strings are replaced by `[REDACTED]`, and the values
//! of environment variables named like secrets are dropped.
use regex::Regex;
use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::llm::config::RedactConfig;

pub const REDACTED: &str = "[REDACTED]";

/// Substrings of environment variable names whose values are secrets (compared upper-case).
const SECRET_NAME_PARTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "PWD",
    "SECRET",
    "TOKEN",
    "APIKEY",
    "API_KEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
    "SIGNING",
    "SALT",
    "DSN",
];

/// What medic always redacts, in order: each rule's replacement keeps what says what the value was.
fn builtin_rules() -> Vec<(&'static str, &'static str)> {
    vec![
        // PEM private keys (the whole block when it is on one line, else from its header on).
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----|.*)", REDACTED),
        // Credentials in URLs and connection strings: scheme://user:password@host.
        (r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@", "${1}:[REDACTED]@"),
        // key=value, key: value, "key": "value" where the key names a secret (an authorization scheme
        // before the value is kept).
        (
            r#"(?i)([A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth|cookie|session[_-]?id|signature)[A-Za-z0-9_.-]*)(["']?\s*[:=]\s*["']?)((?:bearer\s+|basic\s+)?)([^\s"'&;,}\[\]]+)"#,
            "${1}${2}${3}[REDACTED]",
        ),
        // HTTP authorization schemes without a key before them.
        (r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}", "${1}${2}[REDACTED]"),
        // JSON Web Tokens.
        (r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", REDACTED),
        // Tokens with a recognisable shape: AWS access keys, GitHub, Slack, Stripe-style and OpenAI-style keys.
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
        (r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", REDACTED),
        (r"\bxox[abposr]-[A-Za-z0-9-]{8,}", REDACTED),
        (r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED),
        (r"\bsk-[A-Za-z0-9_-]{20,}", REDACTED),
    ]
}

/// Replaces secrets in text. Built once; cheap to share.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<(Regex, String)>,
    secret_names: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(&RedactConfig::default()).expect("the built-in rules compile")
    }
}

impl Redactor {
    pub fn new(config: &RedactConfig) -> Result<Self> {
        let mut rules = Vec::new();
        for (pattern, replacement) in builtin_rules() {
            let regex = Regex::new(pattern)
                .map_err(|e| Error::InvalidLlmConfig { field: "redact (built-in)".into(), problem: e.to_string() })?;
            rules.push((regex, replacement.to_string()));
        }
        for (i, pattern) in config.patterns.iter().enumerate() {
            let regex = Regex::new(pattern).map_err(|e| Error::InvalidLlmConfig {
                field: format!("redact.patterns[{i}]"),
                problem: e.to_string(),
            })?;
            rules.push((regex, REDACTED.to_string()));
        }
        let mut secret_names: Vec<String> = SECRET_NAME_PARTS.iter().map(|s| s.to_string()).collect();
        secret_names.extend(config.env_names.iter().map(|s| s.to_ascii_uppercase()));
        Ok(Self { rules, secret_names })
    }

    /// The text with every secret replaced; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (regex, replacement) in &self.rules {
            if regex.is_match(&out) {
                out = Cow::Owned(regex.replace_all(&out, replacement.as_str()).into_owned());
            }
        }
        out
    }

    /// Whether an environment variable of this name holds a secret (its value is never sent).
    pub fn is_secret_name(&self, name: &str) -> bool {
        let upper = name.to_ascii_uppercase();
        upper.ends_with("_KEY") || upper == "KEY" || self.secret_names.iter().any(|part| upper.contains(part.as_str()))
    }

    /// An environment variable as it may be sent: secret names lose their value, others are redacted.
    pub fn env_value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_secret_name(name) { Cow::Borrowed(REDACTED) } else { self.redact(value) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_text_are_replaced_and_the_rest_kept() {
        let r = Redactor::default();
        let cases = [
            (
                "connecting to postgres://shop:hunter2@orders-db:5432/orders",
                "postgres://shop:[REDACTED]@orders-db:5432/orders",
            ),
            (
                "mongodb://admin:s3cr3t%21@mongo-0.mongo:27017/?authSource=admin",
                "mongodb://admin:[REDACTED]@mongo-0.mongo:27017/",
            ),
            ("Authorization: Bearer abcdef0123456789", "Bearer [REDACTED]"),
            ("password=hunter2 user=shop", "password=[REDACTED] user=shop"),
            (r#"{"db_password":"hunter2","user":"shop"}"#, r#""db_password":"[REDACTED]""#),
            ("Server=db;User Id=sa;Password=P@ssw0rd;", "Password=[REDACTED];"),
            ("api_key: 9f8e7d6c5b4a", "api_key: [REDACTED]"),
            ("X-Api-Key=abc123def456", "X-Api-Key=[REDACTED]"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
                "jwt [REDACTED]",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE used", "aws [REDACTED] used"),
            ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED]"),
            ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [REDACTED]"),
            ("-----BEGIN RSA PRIVATE KEY----- MIIEowIBAAKCAQEA -----END RSA PRIVATE KEY-----", "[REDACTED]"),
        ];
        for (input, expected) in cases {
            let out = r.redact(input);
            assert!(out.contains(expected), "{input}\n → {out}\n wanted {expected}");
        }
        for secret in ["hunter2", "s3cr3t", "abcdef0123456789", "P@ssw0rd", "9f8e7d6c5b4a", "AKIAIOSFODNN7EXAMPLE"] {
            for (input, _) in cases {
                assert!(!r.redact(input).contains(secret), "{secret} survives in {}", r.redact(input));
            }
        }
        let plain = "dial tcp 10.96.0.3:6379: connect: connection refused";
        assert!(matches!(r.redact(plain), Cow::Borrowed(_)), "text without secrets is not copied");
        let event = r#"Error: secret "db-creds" not found"#;
        assert_eq!(r.redact(event), event, "naming a secret is not a secret");
    }

    #[test]
    fn env_values_named_like_secrets_are_dropped() {
        let r = Redactor::new(&RedactConfig { env_names: vec!["licence".into()], ..RedactConfig::default() }).unwrap();
        for name in
            ["DB_PASSWORD", "STRIPE_API_KEY", "jwt_secret", "GITHUB_TOKEN", "SIGNING_KEY", "SENTRY_DSN", "LICENCE_ID"]
        {
            assert_eq!(r.env_value(name, "opaque-value-123"), REDACTED, "{name}");
        }
        for name in ["REDIS_ADDR", "LOG_LEVEL", "JAVA_OPTS", "PORT"] {
            assert_eq!(r.env_value(name, "x"), "x", "{name}");
        }
        assert_eq!(r.env_value("DATABASE_URL", "postgres://u:pw@db/x"), "postgres://u:[REDACTED]@db/x");
    }

    #[test]
    fn configured_patterns_are_redacted_too() {
        let config = RedactConfig { patterns: vec![r"ACME-[0-9]{6}".into()], ..RedactConfig::default() };
        let r = Redactor::new(&config).unwrap();
        assert_eq!(r.redact("licence ACME-123456 ok"), "licence [REDACTED] ok");
        assert!(Redactor::new(&RedactConfig { patterns: vec!["(".into()], ..RedactConfig::default() }).is_err());
    }
}
