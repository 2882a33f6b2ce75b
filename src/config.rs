//! jobs.toml: the schema (connection sections shared by jobs, one table per job) and the
//! loader that turns every mistake into an error naming file, line, column and key.

mod env;
mod job;
mod kubernetes;
pub mod locate;
mod sections;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use self::env::references as env_references;
pub use self::job::JobCommon;
use self::job::parse_job;
pub use self::kubernetes::{
    KubernetesSettings, MEMORY_DEFAULTS, Memory, MemoryQuantity, ServiceAccountName, default_memory,
};
pub use self::locate::KeyPath;
pub use self::sections::{
    Compression, EndpointUrl, HttpEndpoint, PushgatewayConfig, S3Config, ServeConfig, SmtpConfig, SmtpTls, TlsFiles,
    is_loopback, shown_url, shown_url_text,
};
pub use self::types::{HumanDuration, Schedule, Secret, TimeZoneName};

/// The job kinds a configuration can hold. Implemented above this module (by
/// `jobs::JobKind`), so the loader parses every job's own keys without knowing any job.
pub trait JobKinds: Sized + Clone + std::fmt::Debug {
    /// Every kind's `kind = "..."` name, for messages.
    const NAMES: &'static [&'static str];
    /// Parses the keys of one job table that are not common to all jobs, as kind `kind`.
    /// `None` when no kind has that name.
    fn parse(
        kind: &str,
        settings: toml::Value,
        loader: &Loader<'_>,
        path: &KeyPath,
    ) -> Option<Result<Self, ConfigError>>;
    fn name(&self) -> &'static str;
    /// Connection sections this kind cannot run without.
    fn requires(&self) -> &'static [Section];
    /// Checks across fields that serde cannot express.
    fn validate(&self) -> Result<(), SettingsError>;
    /// Checks across jobs and sections, once all are parsed: the job name and the key path
    /// (relative to its table) of the first problem.
    fn check_config(_config: &Config<Self>) -> Result<(), (String, SettingsError)> {
        Ok(())
    }
}

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
pub struct Config<K> {
    /// The file it was read from; relative paths inside it are resolved against its folder.
    pub file: PathBuf,
    pub prometheus: Option<HttpEndpoint>,
    pub search: Option<HttpEndpoint>,
    pub s3: Option<S3Config>,
    pub smtp: Option<SmtpConfig>,
    pub pushgateway: Option<PushgatewayConfig>,
    pub serve: ServeConfig,
    /// Jobs by name, sorted.
    pub jobs: BTreeMap<String, JobConfig<K>>,
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

impl<K> Config<K> {
    pub fn job(&self, name: &str) -> Result<&JobConfig<K>, UnknownJob> {
        self.jobs.get(name).ok_or_else(|| UnknownJob {
            name: name.to_string(),
            file: self.file.display().to_string(),
            jobs: self.jobs.keys().cloned().collect::<Vec<_>>().join(", "),
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
pub struct JobConfig<K> {
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
    /// `[jobs.<name>.kubernetes]`: only `almanac k8s` uses it; checked at load all the same.
    pub kubernetes: KubernetesSettings,
    pub kind: K,
}

/// A job name that jobs.toml does not define (`almanac run <job>`).
#[derive(Debug, thiserror::Error)]
#[error("no job named {name:?} in {file}; jobs: {jobs}")]
pub struct UnknownJob {
    pub name: String,
    pub file: String,
    pub jobs: String,
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

/// What loading needs: the file (for positions and relative paths) and its text.
pub struct Loader<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Loader<'_> {
    /// An error at `path`, with the line and column of that key in the file.
    pub fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
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

    /// Deserializes `value`, found at `path`; errors name the exact key.
    pub fn deserialize<T: DeserializeOwned>(&self, value: toml::Value, path: &KeyPath) -> Result<T, ConfigError> {
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
pub fn load<K: JobKinds>(file: &Path) -> Result<Config<K>, ConfigError> {
    let source = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &source, &|name| std::env::var(name).ok())
}

/// Parses configuration text; `file` is used for messages and relative paths.
pub fn parse<K: JobKinds>(
    file: &Path,
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config<K>, ConfigError> {
    let ctx = Loader { file, source };
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

    let mut config: Config<K> = Config {
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
                section.resolve_tls(&ctx, &path)?;
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
                section.check_cleartext(&ctx, &path)?;
                config.smtp = Some(section);
            }
            "pushgateway" => {
                let mut section: PushgatewayConfig = ctx.deserialize(value, &path)?;
                ctx.secret(&mut section.password, &section.password_file, &path, "password")?;
                section.resolve_tls(&ctx, &path)?;
                section.check_cleartext(&ctx, &path)?;
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
    if let Err((job, error)) = K::check_config(&config) {
        let mut at = KeyPath::root().key("jobs").key(job.as_str());
        at.0.extend(error.path.0);
        return Err(ctx.error(&at, error.message));
    }
    Ok(config)
}
