//! Slack's request signing: `X-Slack-Signature: v0=hex(HMAC-SHA256(signing_secret, "v0:" + timestamp + ":" +
//! raw_body))`, with `X-Slack-Request-Timestamp` within five minutes of now.
//!
//! The signature is checked on the raw bytes before anything decodes them, and compared in constant time
//! (`Mac::verify_slice`), so neither a forged body nor timing reveals anything of the secret.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use thiserror::Error;

/// The signature scheme version Slack uses today.
pub const VERSION: &str = "v0";
/// How far the request's timestamp may be from now.
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;
/// The headers Slack sends.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";

/// Why a request was refused. The text is what the refused caller reads (and the log records); it never
/// contains the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("unsigned request: the {TIMESTAMP_HEADER} header is missing")]
    MissingTimestamp,
    #[error("unsigned request: the {SIGNATURE_HEADER} header is missing")]
    MissingSignature,
    #[error("the {TIMESTAMP_HEADER} header is not a unix time")]
    BadTimestamp,
    #[error("stale request: signed {age_secs} s away from now, outside the {max_age_secs} s window")]
    Stale { age_secs: u64, max_age_secs: u64 },
    #[error("the {SIGNATURE_HEADER} header is not {VERSION}=<64 hex digits>")]
    BadFormat,
    #[error("forged request: the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// A short stable label for counting refusals by kind.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SignatureError::MissingTimestamp | SignatureError::MissingSignature => "unsigned",
            SignatureError::BadTimestamp | SignatureError::BadFormat => "malformed",
            SignatureError::Stale { .. } => "stale",
            SignatureError::Mismatch => "forged",
        }
    }
}

/// Verifies (and, for tests and stand-ins, produces) Slack request signatures with one signing secret.
#[derive(Clone)]
pub struct Verifier {
    /// The HMAC keyed with the secret; cloned for each request, so the key schedule runs once.
    keyed: Hmac<Sha256>,
    max_age_secs: u64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("secret", &"[redacted]").field("max_age_secs", &self.max_age_secs).finish()
    }
}

impl Verifier {
    pub fn new(signing_secret: &[u8], max_age_secs: u64) -> Self {
        // HMAC takes a key of any length.
        let keyed = Hmac::<Sha256>::new_from_slice(signing_secret).expect("HMAC accepts keys of any length");
        Self { keyed, max_age_secs }
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(VERSION.as_bytes());
        mac.update(b":");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }

    /// The `X-Slack-Signature` value Slack would send for this timestamp and body.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        format!("{VERSION}={}", hex::encode(self.mac(timestamp, body).finalize().into_bytes()))
    }

    /// Accepts the request when both headers are present, the timestamp is within the window around
    /// `now_unix` (seconds), and the signature matches the raw body.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), SignatureError> {
        let timestamp = timestamp.map(str::trim).ok_or(SignatureError::MissingTimestamp)?;
        let signature = signature.map(str::trim).ok_or(SignatureError::MissingSignature)?;
        let sent: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp)?;
        let age_secs = now_unix.abs_diff(sent);
        if age_secs > self.max_age_secs {
            return Err(SignatureError::Stale { age_secs, max_age_secs: self.max_age_secs });
        }
        let digest = signature
            .strip_prefix(VERSION)
            .and_then(|rest| rest.strip_prefix('='))
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode(hex).ok())
            .ok_or(SignatureError::BadFormat)?;
        self.mac(timestamp, body).verify_slice(&digest).map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier() -> Verifier {
        Verifier::new(SECRET.as_bytes(), DEFAULT_MAX_AGE_SECS)
    }

    #[test]
    fn slacks_published_test_vector() {
        assert_eq!(verifier().sign(TIMESTAMP, BODY.as_bytes()), EXPECTED);
        let now = TIMESTAMP.parse::<i64>().unwrap() + 10;
        assert_eq!(verifier().verify(Some(TIMESTAMP), Some(EXPECTED), BODY.as_bytes(), now), Ok(()));
    }

    #[test]
    fn forged_stale_and_unsigned_requests_are_refused_with_their_reason() {
        let sent: i64 = TIMESTAMP.parse().unwrap();
        let mut tampered = BODY.as_bytes().to_vec();
        tampered[10] ^= 1;
        let other_secret = Verifier::new(b"not the secret", DEFAULT_MAX_AGE_SECS).sign(TIMESTAMP, BODY.as_bytes());
        let upper = EXPECTED.to_uppercase().replacen("V0", "v0", 1);
        let v1 = EXPECTED.replace("v0=", "v1=");
        let not_hex = EXPECTED.replace('a', "z");
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8], i64, Result<(), SignatureError>);
        let cases: Vec<Case<'_>> = vec![
            ("valid", Some(TIMESTAMP), Some(EXPECTED), BODY.as_bytes(), sent, Ok(())),
            ("hex in upper case", Some(TIMESTAMP), Some(&upper), BODY.as_bytes(), sent, Ok(())),
            ("299 s later", Some(TIMESTAMP), Some(EXPECTED), BODY.as_bytes(), sent + 299, Ok(())),
            ("300 s early", Some(TIMESTAMP), Some(EXPECTED), BODY.as_bytes(), sent - 300, Ok(())),
            (
                "301 s later",
                Some(TIMESTAMP),
                Some(EXPECTED),
                BODY.as_bytes(),
                sent + 301,
                Err(SignatureError::Stale { age_secs: 301, max_age_secs: 300 }),
            ),
            (
                "an hour in the future",
                Some(TIMESTAMP),
                Some(EXPECTED),
                BODY.as_bytes(),
                sent - 3600,
                Err(SignatureError::Stale { age_secs: 3600, max_age_secs: 300 }),
            ),
            ("tampered body", Some(TIMESTAMP), Some(EXPECTED), &tampered, sent, Err(SignatureError::Mismatch)),
            (
                "other secret",
                Some(TIMESTAMP),
                Some(&other_secret),
                BODY.as_bytes(),
                sent,
                Err(SignatureError::Mismatch),
            ),
            // The timestamp is part of what is signed: moving it breaks the signature.
            (
                "moved timestamp",
                Some("1531420619"),
                Some(EXPECTED),
                BODY.as_bytes(),
                sent,
                Err(SignatureError::Mismatch),
            ),
            ("no timestamp", None, Some(EXPECTED), BODY.as_bytes(), sent, Err(SignatureError::MissingTimestamp)),
            ("no signature", Some(TIMESTAMP), None, BODY.as_bytes(), sent, Err(SignatureError::MissingSignature)),
            (
                "not a number",
                Some("yesterday"),
                Some(EXPECTED),
                BODY.as_bytes(),
                sent,
                Err(SignatureError::BadTimestamp),
            ),
            ("v1 scheme", Some(TIMESTAMP), Some(&v1), BODY.as_bytes(), sent, Err(SignatureError::BadFormat)),
            ("short", Some(TIMESTAMP), Some(&EXPECTED[..40]), BODY.as_bytes(), sent, Err(SignatureError::BadFormat)),
            ("not hex", Some(TIMESTAMP), Some(&not_hex), BODY.as_bytes(), sent, Err(SignatureError::BadFormat)),
        ];
        for (name, timestamp, signature, body, now, expected) in cases {
            assert_eq!(verifier().verify(timestamp, signature, body, now), expected, "{name}");
        }
    }

    #[test]
    fn reasons_say_what_was_wrong_and_never_the_secret() {
        let debug = format!("{:?}", verifier());
        assert!(!debug.contains(SECRET), "{debug}");
        let stale = SignatureError::Stale { age_secs: 301, max_age_secs: 300 }.to_string();
        assert_eq!(stale, "stale request: signed 301 s away from now, outside the 300 s window");
        assert!(SignatureError::Mismatch.to_string().starts_with("forged"));
        assert!(SignatureError::MissingSignature.to_string().contains("X-Slack-Signature"));
    }
}
