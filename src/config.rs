//! jobs.toml: the schema (connection sections shared by jobs, one table per job) and the
//! loader that turns every mistake into an error naming file, line, column and key.

mod env;
pub mod locate;
pub mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use self::locate::KeyPath;
pub use self::types::{HumanDuration, Schedule, Secret, TimeZoneName};
use crate::jobs::JobKind;

/// Any problem with the configuration. Always maps to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the configuration: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {key}: {message}", file.display())]
    At {
        file: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// The key path this error is about (`jobs.daily-report.schedule`), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::At { key, .. } => Some(key),
            Self::Read { .. } => None,
        }
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from; relative paths inside it are resolved against its folder.
    pub file: PathBuf,
    pub prometheus: Option<HttpEndpoint>,
    pub search: Option<HttpEndpoint>,
    pub s3: Option<S3Config>,
    pub smtp: Option<SmtpConfig>,
    pub pushgateway: Option<PushgatewayConfig>,
    pub serve: ServeConfig,
    /// Jobs by name, sorted.
    pub jobs: BTreeMap<String, JobConfig>,
}

/// Connection sections a job kind can depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Prometheus,
    Search,
    S3,
    Smtp,
    Pushgateway,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Search => "search",
            Self::S3 => "s3",
            Self::Smtp => "smtp",
            Self::Pushgateway => "pushgateway",
        }
    }
}

impl Config {
    pub fn job(&self, name: &str) -> Result<&JobConfig, String> {
        self.jobs.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.jobs.keys().map(String::as_str).collect();
            format!(
                "no job named {name:?} in {}; jobs: {}",
                self.file.display(),
                names.join(", ")
            )
        })
    }

    pub fn has_section(&self, section: Section) -> bool {
        match section {
            Section::Prometheus => self.prometheus.is_some(),
            Section::Search => self.search.is_some(),
            Section::S3 => self.s3.is_some(),
            Section::Smtp => self.smtp.is_some(),
            Section::Pushgateway => self.pushgateway.is_some(),
        }
    }
}

/// One `[jobs.<name>]` table.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub name: String,
    pub schedule: Schedule,
    pub timezone: TimeZoneName,
    /// The whole run (all attempts) is aborted after this long.
    pub timeout: HumanDuration,
    /// Extra attempts after a transient failure.
    pub retries: u32,
    /// First retry delay; doubles each attempt up to `backoff_max`.
    pub backoff: HumanDuration,
    pub backoff_max: HumanDuration,
    /// `serve` skips disabled jobs; `run` still runs them.
    pub enabled: bool,
    pub description: Option<String>,
    pub kind: JobKind,
}

/// Keys every job table has, whatever its kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonJobFields {
    schedule: Schedule,
    #[serde(default)]
    timezone: TimeZoneName,
    #[serde(default = "default_job_timeout")]
    timeout: HumanDuration,
    #[serde(default)]
    retries: u32,
    #[serde(default = "default_backoff")]
    backoff: HumanDuration,
    #[serde(default = "default_backoff_max")]
    backoff_max: HumanDuration,
    #[serde(default = "yes")]
    enabled: bool,
    description: Option<String>,
}

const COMMON_JOB_KEYS: &[&str] = &[
    "schedule",
    "timezone",
    "timeout",
    "retries",
    "backoff",
    "backoff_max",
    "enabled",
    "description",
];

fn default_job_timeout() -> HumanDuration {
    HumanDuration::from_secs(3_600)
}
fn default_backoff() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_backoff_max() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_http_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn yes() -> bool {
    true
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
    fn resolve(&mut self, ctx: &Resolver<'_>, path: &KeyPath) -> Result<(), ConfigError> {
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

/// Cross-field problems a job kind's settings can report, relative to the job's table.
#[derive(Debug)]
pub struct SettingsError {
    pub path: KeyPath,
    pub message: String,
}

impl SettingsError {
    pub fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}

/// What loading needs: the file (for positions) and the environment (for `${VAR}`).
struct Resolver<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Resolver<'_> {
    fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        let offset = locate::locate(self.source, path).unwrap_or(0);
        let (line, column) = locate::line_col(self.source, offset);
        ConfigError::At {
            file: self.file.to_path_buf(),
            line,
            column,
            key: path.to_string(),
            message: message.into(),
        }
    }

    fn deserialize<T: DeserializeOwned>(&self, value: toml::Value, path: &KeyPath) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let mut at = path.join_serde(error.path());
            let message = error.inner().to_string();
            // Make sure the path of an unknown key ends with that key.
            if let Some(name) = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                && at.0.last() != Some(&locate::Segment::Key(name.to_string()))
            {
                at = at.key(name);
            }
            self.error(&at, message)
        })
    }

    fn relative(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        self.file
            .parent()
            .map_or_else(|| path.to_path_buf(), |dir| dir.join(path))
    }

    fn file(&self, file: &mut Option<PathBuf>, path: &KeyPath, key: &str) -> Result<(), ConfigError> {
        if let Some(given) = file.as_mut() {
            *given = self.relative(given);
            if !given.is_file() {
                return Err(self.error(
                    &path.key(key),
                    format!("file {} does not exist or is not a file", given.display()),
                ));
            }
        }
        Ok(())
    }

    /// Fills `value` from `<key>_file` when that is set; refuses both at once.
    fn secret(
        &self,
        value: &mut Option<Secret>,
        file: &Option<PathBuf>,
        path: &KeyPath,
        key: &str,
    ) -> Result<(), ConfigError> {
        let Some(file) = file else { return Ok(()) };
        let file_key = format!("{key}_file");
        if value.is_some() {
            return Err(self.error(&path.key(key), format!("set either {key} or {file_key}, not both")));
        }
        let file = self.relative(file);
        let content = std::fs::read_to_string(&file).map_err(|error| {
            self.error(
                &path.key(&file_key),
                format!("cannot read secret file {}: {error}", file.display()),
            )
        })?;
        let content = content.trim_end_matches(['\n', '\r']);
        if content.is_empty() {
            return Err(self.error(&path.key(&file_key), format!("secret file {} is empty", file.display())));
        }
        *value = Some(Secret::new(content));
        Ok(())
    }
}

/// Reads and validates a configuration file, with `${VAR}` taken from the process environment.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let source = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &source, &|name| std::env::var(name).ok())
}

/// Parses configuration text; `file` is used for messages and relative paths.
pub fn parse(file: &Path, source: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let ctx = Resolver { file, source };
    let root: toml::Table = toml::from_str(source).map_err(|error| {
        let (line, column) = locate::line_col(source, error.span().map_or(0, |span| span.start));
        ConfigError::At {
            file: file.to_path_buf(),
            line,
            column,
            key: "(syntax)".into(),
            message: error.message().trim().to_string(),
        }
    })?;
    let mut root = toml::Value::Table(root);
    env::expand_tree(&mut root, &KeyPath::root(), lookup).map_err(|(path, message)| ctx.error(&path, message))?;
    let toml::Value::Table(root) = root else {
        unreachable!("the root is a table")
    };

    let mut config = Config {
        file: file.to_path_buf(),
        prometheus: None,
        search: None,
        s3: None,
        smtp: None,
        pushgateway: None,
        serve: ServeConfig::default(),
        jobs: BTreeMap::new(),
    };
    for (key, value) in root {
        let path = KeyPath::root().key(key.as_str());
        match key.as_str() {
            "prometheus" => {
                let mut section: HttpEndpoint = ctx.deserialize(value, &path)?;
                section.resolve(&ctx, &path)?;
                config.prometheus = Some(section);
            }
            "search" => {
                let mut section: HttpEndpoint = ctx.deserialize(value, &path)?;
                section.resolve(&ctx, &path)?;
                config.search = Some(section);
            }
            "s3" => {
                let mut section: S3Config = ctx.deserialize(value, &path)?;
                ctx.secret(
                    &mut section.secret_access_key,
                    &section.secret_access_key_file,
                    &path,
                    "secret_access_key",
                )?;
                if section.secret_access_key.is_some() != section.access_key_id.is_some() {
                    return Err(ctx.error(
                        &path.key("access_key_id"),
                        "access_key_id and secret_access_key go together",
                    ));
                }
                if section.bucket.is_empty() {
                    return Err(ctx.error(&path.key("bucket"), "bucket must not be empty"));
                }
                config.s3 = Some(section);
            }
            "smtp" => {
                let mut section: SmtpConfig = ctx.deserialize(value, &path)?;
                ctx.secret(&mut section.password, &section.password_file, &path, "password")?;
                ctx.file(&mut section.ca_file, &path, "ca_file")?;
                if section.password.is_some() != section.username.is_some() {
                    return Err(ctx.error(&path.key("username"), "username and password go together"));
                }
                if section.from.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(ctx.error(&path.key("from"), format!("invalid sender address {:?}", section.from)));
                }
                config.smtp = Some(section);
            }
            "pushgateway" => {
                let mut section: PushgatewayConfig = ctx.deserialize(value, &path)?;
                ctx.secret(&mut section.password, &section.password_file, &path, "password")?;
                config.pushgateway = Some(section);
            }
            "serve" => {
                let section: ServeConfig = ctx.deserialize(value, &path)?;
                if section.listen.parse::<std::net::SocketAddr>().is_err() {
                    return Err(ctx.error(
                        &path.key("listen"),
                        format!(
                            "invalid listen address {:?}: expected HOST:PORT such as \"0.0.0.0:9464\"",
                            section.listen
                        ),
                    ));
                }
                config.serve = section;
            }
            "jobs" => {
                let toml::Value::Table(jobs) = value else {
                    return Err(ctx.error(&path, "expected a table of jobs: [jobs.<name>]"));
                };
                for (name, job) in jobs {
                    let job = parse_job(&ctx, &name, job, &path.key(name.as_str()))?;
                    config.jobs.insert(name, job);
                }
            }
            other => {
                return Err(ctx.error(
                    &path,
                    format!("unknown section `{other}`, expected one of prometheus, search, s3, smtp, pushgateway, serve, jobs"),
                ));
            }
        }
    }
    for job in config.jobs.values() {
        let path = KeyPath::root().key("jobs").key(job.name.as_str());
        for section in job.kind.requires() {
            if !config.has_section(*section) {
                return Err(ctx.error(
                    &path.key("kind"),
                    format!(
                        "a job of kind {} needs a [{}] section, which is missing",
                        job.kind.name(),
                        section.name()
                    ),
                ));
            }
        }
    }
    Ok(config)
}

fn parse_job(ctx: &Resolver<'_>, name: &str, value: toml::Value, path: &KeyPath) -> Result<JobConfig, ConfigError> {
    let toml::Value::Table(mut table) = value else {
        return Err(ctx.error(path, "expected a table: [jobs.<name>] with kind, schedule, ..."));
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ctx.error(
            path,
            format!("job name {name:?} may only contain letters, digits, '-' and '_'"),
        ));
    }
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) => kind,
        Some(_) => {
            return Err(ctx.error(
                &path.key("kind"),
                "expected a string, one of: report, tsdb-retention, log-retention",
            ));
        }
        None => {
            return Err(ctx.error(
                path,
                "missing key `kind`: one of report, tsdb-retention, log-retention, noop",
            ));
        }
    };
    let mut common = toml::Table::new();
    for key in COMMON_JOB_KEYS {
        if let Some(value) = table.remove(*key) {
            common.insert((*key).to_string(), value);
        }
    }
    let common: CommonJobFields = ctx.deserialize(toml::Value::Table(common), path)?;
    if common.timeout.as_std().is_zero() {
        return Err(ctx.error(&path.key("timeout"), "timeout must be greater than 0s"));
    }
    let settings = toml::Value::Table(table);
    let kind = match kind.as_str() {
        "report" => JobKind::Report(ctx.deserialize(settings, path)?),
        "tsdb-retention" => JobKind::TsdbRetention(ctx.deserialize(settings, path)?),
        "log-retention" => JobKind::LogRetention(ctx.deserialize(settings, path)?),
        "noop" => JobKind::Noop(ctx.deserialize(settings, path)?),
        other => {
            return Err(ctx.error(
                &path.key("kind"),
                format!("unknown job kind {other:?}, expected one of: report, tsdb-retention, log-retention, noop"),
            ));
        }
    };
    if let Err(error) = kind.validate() {
        let mut at = path.clone();
        at.0.extend(error.path.0);
        return Err(ctx.error(&at, error.message));
    }
    Ok(JobConfig {
        name: name.to_string(),
        schedule: common.schedule,
        timezone: common.timezone,
        timeout: common.timeout,
        retries: common.retries,
        backoff: common.backoff,
        backoff_max: common.backoff_max,
        enabled: common.enabled,
        description: common.description,
        kind,
    })
}
