//! One `[jobs.<name>]` table: the keys every job has (`JobCommon`, also read by `almanac k8s`),
//! `[jobs.<name>.kubernetes]`, and the kind's own settings, parsed by the kind.

use serde::Deserialize;

use super::kubernetes::KubernetesSettings;
use super::{ConfigError, HumanDuration, JobConfig, JobKinds, KeyPath, Loader, Schedule, TimeZoneName};

/// Keys every job table has, whatever its kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCommon {
    pub schedule: Schedule,
    #[serde(default)]
    pub timezone: TimeZoneName,
    #[serde(default = "default_job_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub retries: u32,
    #[serde(default = "default_backoff")]
    pub backoff: HumanDuration,
    #[serde(default = "default_backoff_max")]
    pub backoff_max: HumanDuration,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub description: Option<String>,
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
fn yes() -> bool {
    true
}

impl JobCommon {
    /// Removes the common keys from a job table: what is left are the kind's settings.
    pub fn take(table: &mut toml::Table) -> toml::Table {
        let mut common = toml::Table::new();
        for key in COMMON_JOB_KEYS {
            if let Some(value) = table.remove(*key) {
                common.insert((*key).to_string(), value);
            }
        }
        common
    }
}

pub(super) fn parse_job<K: JobKinds>(
    ctx: &Loader<'_>,
    name: &str,
    value: toml::Value,
    path: &KeyPath,
) -> Result<JobConfig<K>, ConfigError> {
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
                format!("expected a string, one of: {}", K::NAMES.join(", ")),
            ));
        }
        None => {
            return Err(ctx.error(path, format!("missing key `kind`: one of {}", K::NAMES.join(", "))));
        }
    };
    let common: JobCommon = ctx.deserialize(toml::Value::Table(JobCommon::take(&mut table)), path)?;
    if common.timeout.as_std().is_zero() {
        return Err(ctx.error(&path.key("timeout"), "timeout must be greater than 0s"));
    }
    let kubernetes: KubernetesSettings = match table.remove("kubernetes") {
        Some(value) => ctx.deserialize(value, &path.key("kubernetes"))?,
        None => KubernetesSettings::default(),
    };
    let settings = toml::Value::Table(table);
    let Some(kind) = K::parse(&kind, settings, ctx, path) else {
        return Err(ctx.error(
            &path.key("kind"),
            format!("unknown job kind {kind:?}, expected one of: {}", K::NAMES.join(", ")),
        ));
    };
    let kind = kind?;
    if let Err(error) = kind.validate().and(kubernetes.memory(kind.name()).map(drop)) {
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
        kubernetes,
        kind,
    })
}
