//! Connection sections of jobs.toml shared by jobs: `[prometheus]`, `[search]`, `[s3]`,
//! `[smtp]`, `[pushgateway]` and `[serve]`, with their defaults.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::types::{HumanDuration, Secret};
use super::{ConfigError, KeyPath, Loader};

fn default_http_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

/// A URL, checked when the config is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl(pub reqwest::Url);

impl<'de> Deserialize<'de> for EndpointUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let url = reqwest::Url::parse(&text).map_err(|error| {
            serde::de::Error::custom(format!(
                "invalid URL {text:?}: {error}; expected e.g. \"http://prometheus:9090\""
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(serde::de::Error::custom(format!(
                "URL {text:?} must start with http:// or https://"
            )));
        }
        Ok(Self(url))
    }
}

/// An optional URL where `""` (e.g. from `${VAR:-}`) means "not set".
fn empty_as_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<EndpointUrl>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => EndpointUrl::deserialize(serde::de::value::StringDeserializer::<D::Error>::new(text)).map(Some),
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print credentials embedded in a URL.
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("redacted"));
        }
        write!(f, "{}", shown.as_str().trim_end_matches('/'))
    }
}

/// An HTTP server: `[prometheus]` and `[search]`. At most one auth method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpEndpoint {
    pub url: EndpointUrl,
    #[serde(default = "default_http_timeout")]
    pub timeout: HumanDuration,
    /// Basic auth user.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<PathBuf>,
    /// Elasticsearch API key (the base64 `id:key` form sent as `Authorization: ApiKey ...`).
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    /// PEM file of extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
}

impl HttpEndpoint {
    pub(super) fn resolve(&mut self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        ctx.secret(&mut self.password, &self.password_file, path, "password")?;
        ctx.secret(&mut self.bearer_token, &self.bearer_token_file, path, "bearer_token")?;
        ctx.secret(&mut self.api_key, &self.api_key_file, path, "api_key")?;
        ctx.file(&mut self.ca_file, path, "ca_file")?;
        let methods = [
            self.password.is_some() || self.username.is_some(),
            self.bearer_token.is_some(),
            self.api_key.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(ctx.error(
                &path.key("username"),
                "choose one auth method: username/password, bearer_token or api_key",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ctx.error(&path.key("password"), "password is set but username is missing"));
        }
        Ok(())
    }
}

/// `[s3]`: where log archives go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Custom endpoint (MinIO, moto, ...); empty means AWS.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub endpoint: Option<EndpointUrl>,
    #[serde(default = "default_region")]
    pub region: String,
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `aindusdb/logs/`.
    #[serde(default)]
    pub prefix: String,
    /// Static credentials; without them the AWS default chain is used (IRSA, instance role...).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub secret_access_key_file: Option<PathBuf>,
    /// Path-style addressing; defaults to true when `endpoint` is set.
    pub force_path_style: Option<bool>,
    #[serde(default = "default_s3_timeout")]
    pub timeout: HumanDuration,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_s3_timeout() -> HumanDuration {
    HumanDuration::from_secs(300)
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required). Port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS). Port 465 by default.
    Implicit,
    /// No encryption at all (local relays only). Port 25 by default.
    None,
}

/// `[smtp]`: where the report is sent. Without it, reports are written to `out/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `AindusDB monitoring <monitoring@aindusdb.com>`.
    pub from: String,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_http_timeout")]
    pub timeout: HumanDuration,
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        })
    }
}

/// `[pushgateway]`: where each run's metrics are pushed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushgatewayConfig {
    pub url: EndpointUrl,
    #[serde(default = "default_http_timeout")]
    pub timeout: HumanDuration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Fail the run when the push fails (default: log and go on).
    #[serde(default)]
    pub fail_run_on_error: bool,
}

/// `[serve]`: the long-running scheduler.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address of `/healthz` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// On SIGTERM, how long running jobs may take to finish before they are cancelled.
    #[serde(default = "default_grace")]
    pub grace_period: HumanDuration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            grace_period: default_grace(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}
fn default_grace() -> HumanDuration {
    HumanDuration::from_secs(300)
}
