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

/// The one way almanac shows a URL anywhere (messages, logs, plans, reports, `validate`):
/// without user name, password, query or fragment, which may hold credentials.
pub fn shown_url(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.as_str().trim_end_matches('/').to_string()
}

/// Text that is not a valid URL, shown without what may be credentials: the part between
/// `://` and the last `@` before the path, and anything from `?` or `#`.
pub fn shown_url_text(text: &str) -> String {
    let text = text.split(['?', '#']).next().unwrap_or_default();
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
                None => text.to_string(),
            }
        }
        None if text.contains('@') => "(not shown: it may hold credentials)".to_string(),
        None => text.to_string(),
    }
}

/// Whether `url` points at this machine (credentials to it never cross a network).
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL, checked when the config is read. Shown (Display, Debug) without credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl(pub reqwest::Url);

impl<'de> Deserialize<'de> for EndpointUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let url = reqwest::Url::parse(&text).map_err(|error| {
            serde::de::Error::custom(format!(
                "invalid URL {:?}: {error}; expected e.g. \"http://prometheus:9090\"",
                shown_url_text(&text)
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(serde::de::Error::custom(format!(
                "URL {:?} must start with http:// or https://",
                shown_url(&url)
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
        f.write_str(&shown_url(&self.0))
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointUrl({:?})", shown_url(&self.0))
    }
}

impl EndpointUrl {
    /// Whether the URL itself carries credentials (`https://user:pass@host`).
    pub fn has_userinfo(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }
}

/// Refuses credentials that would cross the network in clear: `http://` to another machine.
fn check_cleartext(
    ctx: &Loader<'_>,
    path: &KeyPath,
    url: &EndpointUrl,
    credentials: bool,
    allow_insecure: bool,
) -> Result<(), ConfigError> {
    if credentials && url.0.scheme() == "http" && !is_loopback(&url.0) && !allow_insecure {
        return Err(ctx.error(
            &path.key("url"),
            format!(
                "credentials would travel in clear to {}: use https://, or set allow_insecure = true in this section",
                url
            ),
        ));
    }
    Ok(())
}

/// The TLS files of one connection: extra CAs to trust and, for servers that ask for one, a
/// client certificate. Paths are checked (and made relative to jobs.toml) at load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of extra CA certificates to trust (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key, presented when the server asks.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

impl TlsFiles {
    /// Checks each file exists; a client certificate and its key go together.
    fn resolve(&mut self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        ctx.file(&mut self.ca_file, path, "ca_file")?;
        ctx.file(&mut self.client_cert_file, path, "client_cert_file")?;
        ctx.file(&mut self.client_key_file, path, "client_key_file")?;
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(_), None) => Err(ctx.error(
                &path.key("client_cert_file"),
                "client_cert_file is set but client_key_file is missing",
            )),
            (None, Some(_)) => Err(ctx.error(
                &path.key("client_key_file"),
                "client_key_file is set but client_cert_file is missing",
            )),
            _ => Ok(()),
        }
    }
}

/// Whether answers are asked gzip-compressed (`Accept-Encoding: gzip`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Off for servers on this machine or a private network (compressing costs the server
    /// more than it saves on a fast link), on elsewhere.
    #[default]
    Auto,
    On,
    Off,
}

impl Compression {
    /// Whether to ask for compressed answers from `url`.
    pub fn wanted(self, url: &reqwest::Url) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => !is_private(url),
        }
    }
}

/// Whether `url` is on this machine or a private network: loopback, private or link-local
/// addresses, and names that only resolve inside a network (no dot, `.local`, `.internal`,
/// `.svc`, `.cluster.local`).
pub fn is_private(url: &reqwest::Url) -> bool {
    use std::net::IpAddr;
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
        Err(_) => {
            let name = host.trim_end_matches('.');
            !name.contains('.')
                || [".localhost", ".local", ".internal", ".svc", ".cluster.local"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
        }
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
    /// Client certificate and key (PEM) for servers that require one (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Allow credentials over `http://` to another machine (they then travel in clear).
    #[serde(default)]
    pub allow_insecure: bool,
    /// Ask for gzip-compressed answers: `auto` (off on this machine and private networks),
    /// `on` or `off`.
    #[serde(default)]
    pub compression: Compression,
}

impl HttpEndpoint {
    pub fn tls(&self) -> TlsFiles {
        TlsFiles {
            ca_file: self.ca_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
        }
    }

    pub(super) fn resolve(&mut self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        ctx.secret(&mut self.password, &self.password_file, path, "password")?;
        ctx.secret(&mut self.bearer_token, &self.bearer_token_file, path, "bearer_token")?;
        ctx.secret(&mut self.api_key, &self.api_key_file, path, "api_key")?;
        let mut tls = self.tls();
        tls.resolve(ctx, path)?;
        (self.ca_file, self.client_cert_file, self.client_key_file) =
            (tls.ca_file, tls.client_cert_file, tls.client_key_file);
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
        for (key, value) in [("api_key", &self.api_key), ("bearer_token", &self.bearer_token)] {
            if let Some(value) = value
                && !value.expose().chars().all(|c| c == '\t' || (' '..='~').contains(&c))
            {
                return Err(ctx.error(
                    &path.key(key),
                    format!("{key} holds a character an HTTP header cannot carry (control or non-ASCII; a stray newline in its file?)"),
                ));
            }
        }
        let credentials = methods.iter().any(|m| *m) || self.url.has_userinfo();
        check_cleartext(ctx, path, &self.url, credentials, self.allow_insecure)
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
    /// PEM file of extra CA certificates to trust for `endpoint` (a private S3 server).
    pub ca_file: Option<PathBuf>,
}

impl S3Config {
    pub(super) fn resolve_tls(&mut self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        ctx.file(&mut self.ca_file, path, "ca_file")
    }
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
    /// Allow `tls = "none"` with a login to another machine (the password then travels in clear).
    #[serde(default)]
    pub allow_insecure: bool,
}

impl SmtpConfig {
    /// Refuses a login over an unencrypted connection to another machine.
    pub(super) fn check_cleartext(&self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        let local = self.host == "localhost" || self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if self.tls == SmtpTls::None && self.username.is_some() && !local && !self.allow_insecure {
            return Err(ctx.error(
                &path.key("tls"),
                format!(
                    "tls = \"none\" would send the SMTP password in clear to {}: use \"starttls\" or \"implicit\", or set allow_insecure = true",
                    self.host
                ),
            ));
        }
        Ok(())
    }

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
    /// PEM file of extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for a Pushgateway that requires one (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Allow credentials over `http://` to another machine (they then travel in clear).
    #[serde(default)]
    pub allow_insecure: bool,
}

impl PushgatewayConfig {
    pub fn tls(&self) -> TlsFiles {
        TlsFiles {
            ca_file: self.ca_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
        }
    }

    pub(super) fn resolve_tls(&mut self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        let mut tls = self.tls();
        tls.resolve(ctx, path)?;
        (self.ca_file, self.client_cert_file, self.client_key_file) =
            (tls.ca_file, tls.client_cert_file, tls.client_key_file);
        Ok(())
    }

    pub(super) fn check_cleartext(&self, ctx: &Loader<'_>, path: &KeyPath) -> Result<(), ConfigError> {
        let credentials = self.username.is_some() || self.url.has_userinfo();
        check_cleartext(ctx, path, &self.url, credentials, self.allow_insecure)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        text.parse().unwrap()
    }

    #[test]
    fn auto_compression_is_off_on_this_machine_and_private_networks_only() {
        for private in [
            "http://127.0.0.1:9090",
            "http://[::1]:9090",
            "http://10.1.2.3",
            "http://192.168.1.5",
            "http://172.20.0.1",
            "http://[fd00::1]",
            "http://prometheus:9090",
            "http://prometheus.monitoring.svc:9090",
            "http://prometheus.monitoring.svc.cluster.local:9090",
            "http://localhost:9090",
        ] {
            assert!(!Compression::Auto.wanted(&url(private)), "{private}");
            assert!(Compression::On.wanted(&url(private)), "{private}");
        }
        for public in [
            "https://prometheus.example.com",
            "http://8.8.8.8",
            "http://172.32.0.1",
            "http://[2001:db8::1]",
        ] {
            assert!(Compression::Auto.wanted(&url(public)), "{public}");
            assert!(!Compression::Off.wanted(&url(public)), "{public}");
        }
    }
}
