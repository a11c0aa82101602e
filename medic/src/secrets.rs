//! Secrets in medic's configuration (a Slack bot token, a webhook URL, an API token): given inline, through
//! an environment variable the config names, or in a file (a mounted Kubernetes Secret) — exactly one of
//! them. Resolved values are [`Secret`]s, which print redacted.
use anyhow::{Context, Result, bail};
use std::path::Path;

pub use medic_collector::intake::Secret;

/// Where the configuration says a secret is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretSource<'a> {
    pub inline: Option<&'a Secret>,
    pub env: Option<&'a str>,
    pub file: Option<&'a Path>,
}

impl SecretSource<'_> {
    /// How many places were given (a config must give exactly one).
    pub fn given(&self) -> usize {
        usize::from(self.inline.is_some()) + usize::from(self.env.is_some()) + usize::from(self.file.is_some())
    }

    /// Checks that exactly one place was given; `field` names the setting (`notify.sinks[0].token`).
    pub fn validate(&self, field: &str) -> Result<()> {
        // The settings are named by their last segment, as they are written in the config's table.
        let key = field.rsplit('.').next().unwrap_or(field);
        match self.given() {
            1 => Ok(()),
            0 => bail!("{field}: give {key}, {key}_env or {key}_file"),
            _ => bail!("{field}: give only one of {key}, {key}_env and {key}_file"),
        }
    }

    /// The secret, read from where the config says; `env` looks up environment variables.
    pub fn resolve(&self, field: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret> {
        self.validate(field)?;
        let value = match (self.inline, self.env, self.file) {
            (Some(secret), _, _) => secret.expose().to_string(),
            (_, Some(var), _) => {
                env(var).with_context(|| format!("{field}_env: environment variable {var} is not set"))?
            }
            (_, _, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("{field}_file: reading {}", path.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            (None, None, None) => unreachable!("validated above"),
        };
        if value.trim().is_empty() {
            bail!("{field}: the secret is empty");
        }
        Ok(Secret::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_secret_comes_from_exactly_one_place() {
        let inline = Secret::new("xoxb-inline");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "xoxb-from-file").unwrap();
        let env = |var: &str| (var == "MEDIC_TEST_TOKEN").then(|| "xoxb-from-env".to_string());
        let cases: Vec<(SecretSource<'_>, Result<&str, &str>)> = vec![
            (SecretSource { inline: Some(&inline), ..Default::default() }, Ok("xoxb-inline")),
            (SecretSource { env: Some("MEDIC_TEST_TOKEN"), ..Default::default() }, Ok("xoxb-from-env")),
            (SecretSource { file: Some(file.path()), ..Default::default() }, Ok("xoxb-from-file")),
            (SecretSource::default(), Err("token: give token, token_env or token_file")),
            (
                SecretSource { inline: Some(&inline), env: Some("X"), ..Default::default() },
                Err("token: give only one of token, token_env and token_file"),
            ),
            (
                SecretSource { env: Some("MEDIC_UNSET"), ..Default::default() },
                Err("token_env: environment variable MEDIC_UNSET is not set"),
            ),
            (SecretSource { file: Some(Path::new("/nonexistent/token")), ..Default::default() }, Err("token_file")),
        ];
        for (source, expected) in cases {
            match (source.resolve("token", &env), expected) {
                (Ok(secret), Ok(want)) => assert_eq!(secret.expose(), want),
                (Err(e), Err(want)) => assert!(format!("{e:#}").starts_with(want), "{e:#}"),
                (got, want) => panic!("{source:?}: got {got:?}, want {want:?}"),
            }
        }
        let empty = Secret::new(" ");
        let error = SecretSource { inline: Some(&empty), ..Default::default() }.resolve("token", &env).unwrap_err();
        assert_eq!(error.to_string(), "token: the secret is empty");
    }
}
