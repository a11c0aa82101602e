//! The API's bearer tokens and roles.
//!
//! ```toml
//! [[api.tokens]]
//! name = "alice"             # recorded as `api:alice` when alice approves a plan
//! role = "approver"          # viewer < approver < admin
//! token_env = "MEDIC_TOKEN_ALICE"   # or token, token_file, or token_sha256 (hex SHA-256 of the token)
//! ```
//!
//! medic keeps only the SHA-256 of each token and compares digests in constant time; a token never appears
//! in a log line, an error or `medic config check`. The webhook receivers have their own credentials
//! (`[intake]`); `GET /v1/health` and the OpenAPI document need none.
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use subtle::ConstantTimeEq;

use crate::secrets::{Secret, SecretSource};

/// What a token may do. Each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read incidents, their timelines and plans.
    Viewer,
    /// Also approve and reject plans.
    Approver,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[api]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Who may call the API; with none, every API call is refused (401).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The token's SHA-256 in hex, so the configuration need not hold the token itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
}

impl TokenConfig {
    fn source(&self) -> SecretSource<'_> {
        SecretSource { inline: self.token.as_ref(), env: self.token_env.as_deref(), file: self.token_file.as_deref() }
    }

    fn validate(&self, at: &str) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !name_ok {
            bail!("{at}.name: {:?} must be 1-64 letters, digits or -_.@", self.name);
        }
        let given = self.source().given() + usize::from(self.token_sha256.is_some());
        if given != 1 {
            bail!("{at}: give exactly one of token, token_env, token_file and token_sha256");
        }
        if let Some(hex) = &self.token_sha256
            && parse_digest(hex).is_none()
        {
            bail!("{at}.token_sha256: expected 64 hex digits (the SHA-256 of the token)");
        }
        Ok(())
    }
}

impl ApiConfig {
    pub fn validate(&self) -> Result<()> {
        let mut names = HashSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            let at = format!("api.tokens[{i}]");
            token.validate(&at)?;
            if !names.insert(token.name.as_str()) {
                bail!("{at}.name: {:?} is used by another token", token.name);
            }
        }
        Ok(())
    }

    /// Resolves the tokens (reading the environment or files where the config says) into their digests.
    pub fn build(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<ApiAuth> {
        self.validate()?;
        let mut tokens = Vec::with_capacity(self.tokens.len());
        for (i, token) in self.tokens.iter().enumerate() {
            let digest = match &token.token_sha256 {
                Some(hex) => parse_digest(hex).expect("validated"),
                None => digest(token.source().resolve(&format!("api.tokens[{i}].token"), env)?.expose().as_bytes()),
            };
            if tokens.iter().any(|(d, _): &(Digest32, Caller)| d == &digest) {
                bail!("api.tokens[{i}]: the same token is configured twice; give each caller its own");
            }
            tokens.push((digest, Caller { name: token.name.clone(), role: token.role }));
        }
        Ok(ApiAuth { tokens })
    }
}

type Digest32 = [u8; 32];

fn digest(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

fn parse_digest(hex: &str) -> Option<Digest32> {
    let bytes = hex::decode(hex.trim()).ok()?;
    bytes.try_into().ok()
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// How the audit trail names this caller (`api:alice`).
    pub fn by(&self) -> String {
        format!("api:{}", self.name)
    }
}

/// Why a request was refused; `status` is 401 or 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

/// The configured tokens, as digests.
#[derive(Clone, Default)]
pub struct ApiAuth {
    tokens: Vec<(Digest32, Caller)>,
}

impl fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let callers: Vec<_> = self.tokens.iter().map(|(_, c)| format!("{} ({})", c.name, c.role)).collect();
        f.debug_struct("ApiAuth").field("callers", &callers).finish()
    }
}

impl ApiAuth {
    /// The caller whose token the `Authorization` header carries, if its role is at least `needed`;
    /// `doing` says what the call does, for the refusal's reason.
    pub fn check(&self, authorization: Option<&str>, needed: Role, doing: &str) -> Result<Caller, Refusal> {
        let unauthenticated = |reason: String| Refusal { status: StatusCode::UNAUTHORIZED, reason };
        if self.tokens.is_empty() {
            return Err(unauthenticated("authentication required: no API tokens are configured ([api] tokens)".into()));
        }
        let presented = authorization
            .map(str::trim)
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthenticated("authentication required: send Authorization: Bearer <token>".into()))?;
        let presented = digest(presented.as_bytes());
        // Every token is compared, so the time taken says nothing about which one (if any) matched.
        let mut found = None;
        for (expected, caller) in &self.tokens {
            if bool::from(presented.ct_eq(expected)) {
                found = Some(caller);
            }
        }
        let caller = found.ok_or_else(|| unauthenticated("authentication failed: unknown token".into()))?;
        if caller.role < needed {
            return Err(Refusal {
                status: StatusCode::FORBIDDEN,
                reason: format!(
                    "forbidden: {doing} needs the {needed} role or higher; token {:?} has the {} role",
                    caller.name, caller.role
                ),
            });
        }
        Ok(caller.clone())
    }

    /// As [`ApiAuth::check`], for a request.
    pub fn check_request(&self, req: &HttpRequest, needed: Role, doing: &str) -> Result<Caller, Refusal> {
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        self.check(header, needed, doing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Result<ApiConfig> {
        let config: ApiConfig = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    fn auth() -> ApiAuth {
        let sha = hex::encode(Sha256::digest(b"admin-token"));
        let toml = format!(
            "[[tokens]]\nname = \"vera\"\nrole = \"viewer\"\ntoken = \"viewer-token\"\n\
             [[tokens]]\nname = \"alice\"\nrole = \"approver\"\ntoken_env = \"MEDIC_TEST_ALICE\"\n\
             [[tokens]]\nname = \"root\"\nrole = \"admin\"\ntoken_sha256 = \"{sha}\"\n"
        );
        let env = |var: &str| (var == "MEDIC_TEST_ALICE").then(|| "approver-token".to_string());
        config(&toml).unwrap().build(&env).unwrap()
    }

    #[test]
    fn roles_are_checked_per_call() {
        let auth = auth();
        let cases: &[(Option<&str>, Role, Result<&str, u16>)] = &[
            (Some("Bearer viewer-token"), Role::Viewer, Ok("vera")),
            (Some("bearer   viewer-token "), Role::Viewer, Ok("vera")),
            (Some("Bearer viewer-token"), Role::Approver, Err(403)),
            (Some("Bearer approver-token"), Role::Approver, Ok("alice")),
            (Some("Bearer approver-token"), Role::Admin, Err(403)),
            (Some("Bearer admin-token"), Role::Approver, Ok("root")),
            (Some("Bearer admin-token"), Role::Admin, Ok("root")),
            (Some("Bearer wrong"), Role::Viewer, Err(401)),
            (Some("Basic dmVyYTp2aWV3ZXItdG9rZW4="), Role::Viewer, Err(401)),
            (Some("Bearer "), Role::Viewer, Err(401)),
            (None, Role::Viewer, Err(401)),
        ];
        for (header, needed, expected) in cases {
            let got = auth.check(*header, *needed, "this").map(|c| c.name).map_err(|r| r.status.as_u16());
            assert_eq!(got.as_deref().map_err(|s| *s), expected.map_err(|s| s), "{header:?} as {needed}");
        }
        let forbidden = auth.check(Some("Bearer viewer-token"), Role::Approver, "approving a plan").unwrap_err();
        assert_eq!(
            forbidden.reason,
            "forbidden: approving a plan needs the approver role or higher; token \"vera\" has the viewer role"
        );
        assert_eq!(
            auth.check(None, Role::Viewer, "x").unwrap_err().reason,
            "authentication required: send Authorization: Bearer <token>"
        );
        assert_eq!(
            auth.check(Some("Bearer nope"), Role::Viewer, "x").unwrap_err().reason,
            "authentication failed: unknown token"
        );
    }

    #[test]
    fn without_tokens_the_api_is_closed() {
        let refusal = ApiAuth::default().check(Some("Bearer anything"), Role::Viewer, "x").unwrap_err();
        assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
        assert!(refusal.reason.contains("no API tokens are configured"));
    }

    #[test]
    fn tokens_are_never_shown() {
        let auth = auth();
        let shown = format!("{auth:?}");
        assert!(!shown.contains("viewer-token") && !shown.contains("approver-token"), "{shown}");
        assert!(shown.contains("alice (approver)"), "{shown}");
        let config = config("[[tokens]]\nname = \"vera\"\nrole = \"viewer\"\ntoken = \"viewer-token\"\n").unwrap();
        assert!(!format!("{config:?}").contains("viewer-token"));
        assert!(!serde_json::to_string(&config).unwrap().contains("viewer-token"));
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&str, &str)] = &[
            ("[[tokens]]\nname = \"a\"\nrole = \"viewer\"\n", "api.tokens[0]: give exactly one of"),
            ("[[tokens]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"x\"\ntoken_env = \"Y\"\n", "give exactly one of"),
            ("[[tokens]]\nname = \"a b\"\nrole = \"viewer\"\ntoken = \"x\"\n", "api.tokens[0].name"),
            ("[[tokens]]\nname = \"a\"\nrole = \"root\"\ntoken = \"x\"\n", "root"),
            ("[[tokens]]\nname = \"a\"\nrole = \"viewer\"\ntoken_sha256 = \"abc\"\n", "token_sha256: expected 64 hex"),
            (
                "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"x\"\n[[tokens]]\nname = \"a\"\nrole = \"admin\"\ntoken = \"y\"\n",
                "api.tokens[1].name: \"a\" is used by another token",
            ),
        ];
        for (toml, expected) in cases {
            let error = format!("{:#}", config(toml).unwrap_err());
            assert!(error.contains(expected), "{toml}: {error}");
        }
        let twice = config(
            "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"x\"\n[[tokens]]\nname = \"b\"\nrole = \"admin\"\ntoken = \"x\"\n",
        )
        .unwrap()
        .build(&|_| None)
        .unwrap_err();
        assert!(twice.to_string().contains("the same token is configured twice"), "{twice}");
    }
}
