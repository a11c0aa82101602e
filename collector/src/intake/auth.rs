//! Receiver authentication: a bearer token or basic auth per receiver, checked in constant time.
//!
//! Alertmanager and GoAlert do not sign their webhooks; what protects the receiver is the credentials the
//! sender is configured with (`http_config.authorization` / `basic_auth` in Alertmanager). Secrets come from
//! the config file or, better, from an environment variable the config names; they are never printed.
use base64::Engine;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

use crate::error::{Error, IntakeError, Result};

/// A secret string. `Debug` and `Serialize` print it redacted, so it cannot leak through logs or
/// `medic config check`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// How a receiver authenticates its sender (`auth = { scheme = "bearer", token_env = "MEDIC_AM_TOKEN" }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthConfig {
    /// `Authorization: Bearer <token>`. Give `token` or `token_env` (the variable holding it), not both.
    Bearer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<Secret>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_env: Option<String>,
    },
    /// `Authorization: Basic base64(username:password)`. Give `password` or `password_env`.
    Basic {
        username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<Secret>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_env: Option<String>,
    },
    /// No authentication: only for a receiver reachable from loopback alone or behind an authenticating
    /// proxy. It must be chosen explicitly.
    None,
}

impl AuthConfig {
    /// Resolves the secret (reading the environment when the config names a variable) into the checker.
    /// `receiver` names the receiver in error messages.
    pub fn build(&self, receiver: &str) -> Result<Authenticator> {
        self.build_with_env(receiver, |var| std::env::var(var).ok())
    }

    /// As [`AuthConfig::build`], with the environment given as a function (tests).
    pub fn build_with_env(&self, receiver: &str, env: impl Fn(&str) -> Option<String>) -> Result<Authenticator> {
        let secret = |inline: &Option<Secret>, var: &Option<String>, field: &str| -> Result<Secret> {
            let value = match (inline, var) {
                (Some(_), Some(_)) => {
                    return Err(Error::Config(format!("{receiver}.auth: give {field} or {field}_env, not both")));
                }
                (Some(secret), None) => secret.clone(),
                (None, Some(var)) => Secret(env(var).ok_or_else(|| Error::MissingEnv {
                    var: var.clone(),
                    field: format!("{receiver}.auth.{field}_env"),
                })?),
                (None, None) => {
                    return Err(Error::Config(format!("{receiver}.auth: {field} or {field}_env is required")));
                }
            };
            if value.0.is_empty() {
                return Err(Error::Config(format!("{receiver}.auth: the {field} is empty")));
            }
            Ok(value)
        };
        Ok(match self {
            AuthConfig::Bearer { token, token_env } => {
                Authenticator::Bearer { token: digest(secret(token, token_env, "token")?.expose().as_bytes()) }
            }
            AuthConfig::Basic { username, password, password_env } => {
                if username.is_empty() || username.contains(':') {
                    return Err(Error::Config(format!("{receiver}.auth.username: must be non-empty and without ':'")));
                }
                let password = secret(password, password_env, "password")?;
                Authenticator::Basic { credentials: digest(format!("{username}:{}", password.expose()).as_bytes()) }
            }
            AuthConfig::None => Authenticator::None,
        })
    }
}

type Digest32 = [u8; 32];

/// Comparing digests keeps the comparison constant-time whatever the length of what was presented.
fn digest(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

/// Checks an `Authorization` header against a receiver's credentials. Holds only digests of the secrets.
#[derive(Clone)]
pub enum Authenticator {
    Bearer { token: Digest32 },
    Basic { credentials: Digest32 },
    None,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Authenticator::Bearer { .. } => "Authenticator::Bearer([redacted])",
            Authenticator::Basic { .. } => "Authenticator::Basic([redacted])",
            Authenticator::None => "Authenticator::None",
        })
    }
}

impl Authenticator {
    fn scheme(&self) -> &'static str {
        match self {
            Authenticator::Bearer { .. } => "Bearer",
            Authenticator::Basic { .. } => "Basic",
            Authenticator::None => "no",
        }
    }

    /// Accepts the request when `authorization` (the header's value) carries the expected credentials.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), IntakeError> {
        let expected = match self {
            Authenticator::None => return Ok(()),
            Authenticator::Bearer { token } => token,
            Authenticator::Basic { credentials } => credentials,
        };
        let scheme = self.scheme();
        let unauthenticated = IntakeError::Unauthenticated { expected: scheme };
        let header = authorization.map(str::trim).ok_or_else(|| unauthenticated.clone())?;
        let (given_scheme, value) = header.split_once(' ').ok_or_else(|| unauthenticated.clone())?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        if !given_scheme.eq_ignore_ascii_case(scheme) {
            return Err(unauthenticated);
        }
        let value = value.trim();
        let presented = match self {
            Authenticator::Basic { .. } => match base64::engine::general_purpose::STANDARD.decode(value) {
                Ok(decoded) => digest(&decoded),
                Err(_) => return Err(IntakeError::BadCredentials { scheme }),
            },
            _ => digest(value.as_bytes()),
        };
        if bool::from(presented.ct_eq(expected)) { Ok(()) } else { Err(IntakeError::BadCredentials { scheme }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> Authenticator {
        AuthConfig::Bearer { token: Some(Secret::new(token)), token_env: None }.build("alertmanager").unwrap()
    }

    #[test]
    fn bearer_tokens_are_checked() {
        let auth = bearer("s3cret");
        let cases: &[(Option<&str>, Option<u16>)] = &[
            (Some("Bearer s3cret"), None),
            (Some("bearer s3cret"), None),
            (Some("  Bearer   s3cret "), None),
            (Some("Bearer s3cre"), Some(401)),
            (Some("Bearer s3cret2"), Some(401)),
            (Some("Bearer "), Some(401)),
            (Some("Basic czNjcmV0"), Some(401)),
            (Some("s3cret"), Some(401)),
            (None, Some(401)),
        ];
        for (header, refused) in cases {
            let result = auth.check(*header);
            assert_eq!(result.as_ref().err().map(IntakeError::status), *refused, "{header:?}: {result:?}");
        }
        assert!(auth.check(None).unwrap_err().reason().contains("Bearer"));
    }

    #[test]
    fn basic_credentials_are_checked() {
        let config = AuthConfig::Basic {
            username: "am".into(),
            password: None,
            password_env: Some("MEDIC_TEST_PASSWORD".into()),
        };
        let auth = config
            .build_with_env("goalert", |var| (var == "MEDIC_TEST_PASSWORD").then(|| "pa:ss".to_string()))
            .unwrap();
        let encode = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert!(auth.check(Some(&encode("am:pa:ss"))).is_ok());
        assert_eq!(auth.check(Some(&encode("am:pass"))).unwrap_err().status(), 401);
        assert_eq!(auth.check(Some(&encode("xx:pa:ss"))).unwrap_err().status(), 401);
        assert_eq!(auth.check(Some("Basic !!!not-base64")).unwrap_err().status(), 401);
        assert_eq!(auth.check(Some("Bearer pa:ss")).unwrap_err().status(), 401);
    }

    #[test]
    fn configuration_errors_name_the_field_and_never_the_secret() {
        let missing = AuthConfig::Bearer { token: None, token_env: Some("MEDIC_NOT_SET".into()) }
            .build_with_env("alertmanager", |_| None)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("MEDIC_NOT_SET") && missing.contains("alertmanager.auth.token_env"), "{missing}");
        let both = AuthConfig::Bearer { token: Some(Secret::new("x")), token_env: Some("V".into()) }
            .build_with_env("generic", |_| Some("y".into()))
            .unwrap_err()
            .to_string();
        assert!(both.contains("generic.auth") && both.contains("not both"), "{both}");
        let none = AuthConfig::Bearer { token: None, token_env: None }.build("generic").unwrap_err().to_string();
        assert!(none.contains("token or token_env is required"), "{none}");
        let empty = AuthConfig::Bearer { token: Some(Secret::new("")), token_env: None }.build("generic");
        assert!(empty.is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_serialized_config() {
        let config = AuthConfig::Bearer { token: Some(Secret::new("hunter2")), token_env: None };
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&config).unwrap().contains("hunter2"));
        assert!(!format!("{:?}", config.build("am").unwrap()).contains("hunter2"));
    }

    #[test]
    fn the_config_reads_from_toml_like_maps() {
        let config: AuthConfig = serde_json::from_str(r#"{"scheme":"bearer","token_env":"MEDIC_AM_TOKEN"}"#).unwrap();
        assert_eq!(config, AuthConfig::Bearer { token: None, token_env: Some("MEDIC_AM_TOKEN".into()) });
        let typo = serde_json::from_str::<AuthConfig>(r#"{"scheme":"bearer","tokn":"x"}"#).unwrap_err();
        assert!(typo.to_string().contains("tokn"), "{typo}");
        let none: AuthConfig = serde_json::from_str(r#"{"scheme":"none"}"#).unwrap();
        assert_eq!(none, AuthConfig::None);
    }
}
