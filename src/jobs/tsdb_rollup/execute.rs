//! The planning I/O of the `tsdb-rollup` job: the target's flavour and retention, each tier's
//! watermark, metric metadata, and for `--dry-run` the series to roll up per window.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use super::plan::{self, Plan, TierPlan, WATERMARK};
use super::read_path::{self, Source};
use super::settings::{RawRead, Rule, Settings, Tier};
use crate::clients::http::HttpClient;
use crate::clients::prometheus::PrometheusClient;
use crate::clients::prometheus::admin::{AdminClient, Server};
use crate::clients::prometheus::raw::RawClient;
use crate::clients::remote_write::{Receiver, RemoteWriteClient};
use crate::jobs::tsdb_retention::decide::escape;
use crate::jobs::{JobContext, JobError};

/// The servers a run talks to: the source of raw samples and the target of rollups.
pub(super) struct Clients {
    pub source: PrometheusClient,
    pub raw: RawClient,
    /// The target's query API (watermarks).
    pub target: PrometheusClient,
    pub target_http: HttpClient,
}

impl Clients {
    pub fn new(ctx: &JobContext, settings: &Settings) -> Result<Self, JobError> {
        let source = crate::jobs::connect::prometheus(&ctx.config)?;
        let target_http = match (&settings.target_url, &ctx.config.prometheus) {
            (Some(url), Some(endpoint)) => {
                let mut endpoint = endpoint.clone();
                endpoint.url = url.clone();
                HttpClient::new(&endpoint)?
            }
            _ => source.http().clone(),
        };
        Ok(Self {
            raw: RawClient::new(source.http().clone()),
            target: PrometheusClient::from_http(target_http.clone()),
            target_http,
            source,
        })
    }

    pub fn writer(&self, receiver: Receiver) -> RemoteWriteClient {
        RemoteWriteClient::new(self.target_http.clone(), receiver)
    }
}

/// The receiver behind the plan's `receiver` name.
pub(super) fn receiver_of(plan: &Plan) -> Receiver {
    if plan.receiver == "victoria_metrics" {
        Receiver::VictoriaMetrics
    } else {
        Receiver::Prometheus
    }
}

/// Builds the plan: asks the target what it is and where each tier stopped, the source for
/// metadata (and, for `--dry-run`, per-window series counts).
pub(super) async fn gather(ctx: &JobContext, settings: &Settings) -> Result<Plan, JobError> {
    let clients = Clients::new(ctx, settings)?;
    let server = AdminClient::new(clients.target_http.clone()).detect().await?;
    let source = if settings.target_url.is_none() {
        server.clone()
    } else {
        match AdminClient::new(clients.source.http().clone()).detect().await {
            Ok(source) => source,
            Err(error) if settings.raw_read == RawRead::Auto => {
                warn!(message = "the source did not say what it is; raw samples read with the query API", %error);
                return gather_with(ctx, settings, clients, server, Source::Unknown).await;
            }
            Err(error) => return Err(JobError::from(error).context("asking the source what it is")),
        }
    };
    let source = match source {
        Server::VictoriaMetrics { .. } => Source::VictoriaMetrics,
        Server::Prometheus { .. } if settings.raw_read == RawRead::Query => {
            Source::Prometheus { external_labels: None }
        }
        Server::Prometheus { .. } => {
            let external_labels = match AdminClient::new(clients.source.http().clone())
                .has_external_labels()
                .await
            {
                Ok(found) => Some(found),
                Err(error) => {
                    warn!(message = "cannot read the source's configuration", %error);
                    None
                }
            };
            Source::Prometheus { external_labels }
        }
    };
    gather_with(ctx, settings, clients, server, source).await
}

async fn gather_with(
    ctx: &JobContext,
    settings: &Settings,
    clients: Clients,
    server: Server,
    source: Source,
) -> Result<Plan, JobError> {
    let (read, read_reason) = read_path::choose(settings.raw_read, source)
        .map_err(|e| JobError::Usage(format!("jobs.{}: {e}", ctx.job.name)))?;
    let (receiver, setting) = match server {
        Server::Prometheus { .. } => ("prometheus", "--storage.tsdb.retention.time"),
        Server::VictoriaMetrics { .. } => ("victoria_metrics", "-retentionPeriod"),
    };
    let mut warnings = Vec::new();
    let metadata = match clients.raw.metadata().await {
        Ok(metadata) => metadata,
        Err(error) => {
            warn!(message = "no metric metadata; types come from the rules and name suffixes", %error);
            warnings.push(format!(
                "metric metadata unavailable ({error}): types from the rules and name suffixes"
            ));
            BTreeMap::new()
        }
    };
    let tz = ctx.job.timezone.0;
    let mut tiers = Vec::new();
    for tier in [Tier::Hour, Tier::Day] {
        if !settings.tiers.contains(&tier) {
            continue;
        }
        let watermark = watermark(&clients.target, &ctx.job.name, tier, ctx.now, settings).await?;
        tiers.push(plan::tier_windows(
            tier,
            watermark,
            ctx.now,
            settings.lookback.as_chrono(),
            settings.delay.as_chrono(),
            settings.max_windows_per_run,
            tz,
        ));
    }
    for tier in &tiers {
        if let Some(skipped) = tier.skipped {
            warnings.push(format!(
                "{} windows from {} to {} are skipped: the watermark is older than lookback = {} \
                 (raise lookback, at most the raw retention, to compute them)",
                tier.tier.label(),
                skipped.start.to_rfc3339(),
                skipped.end.to_rfc3339(),
                settings.lookback
            ));
        }
    }
    plan::check_retention(&tiers, ctx.now, server.retention_seconds(), setting).map_err(JobError::fatal)?;
    let windows = |tier: Tier| -> Vec<plan::Window> {
        tiers
            .iter()
            .find(|t| t.tier == tier)
            .map_or(Vec::new(), |t| t.windows.clone())
    };
    let chunks = plan::chunks(&windows(Tier::Hour), &windows(Tier::Day));
    if ctx.options.dry_run {
        for tier in &mut tiers {
            count(&clients.source, &settings.rules, tier, &metadata).await?;
        }
    }
    info!(message = "rollup planned", receiver, read = ?read, hours = chunks.len(), tiers = ?tiers.iter().map(|t| (t.tier.label(), t.windows.len(), t.pending)).collect::<Vec<_>>());
    Ok(Plan {
        target: clients.writer(Receiver::Prometheus).shown_url(),
        receiver,
        timezone: tz.name().to_string(),
        read,
        read_reason,
        hours_to_fetch: chunks.len(),
        rules: settings.rules.iter().map(|r| r.selector.render()).collect(),
        tiers,
        warnings,
        chunks,
        metadata,
    })
}

/// How far back the watermark is looked for: past any plausible downtime (a watermark older
/// than `lookback` is reported, not silently ignored).
const WATERMARK_SEARCH_SECONDS: u64 = 400 * 86_400;

/// End of the last window written for `tier`: the largest watermark value of the last 400
/// days (or of `lookback`, when longer).
async fn watermark(
    target: &PrometheusClient,
    job: &str,
    tier: Tier,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Option<DateTime<Utc>>, JobError> {
    let query = format!(
        "max(max_over_time({WATERMARK}{{job=\"{}\",tier=\"{}\"}}[{}s]))",
        escape(job),
        tier.label(),
        settings.lookback.as_std().as_secs().max(WATERMARK_SEARCH_SECONDS)
    );
    let answer = target
        .query(&query, now)
        .await
        .map_err(|e| JobError::from(e).context(format!("reading the {} watermark", tier.label())))?;
    Ok(answer
        .first()
        .filter(|s| s.value.is_finite() && s.value > 0.0)
        .and_then(|s| DateTime::from_timestamp(s.value as i64, 0)))
}

/// `--dry-run`: series per metric name in each window of `tier`, for every rule (one instant
/// query per window and rule).
async fn count(
    source: &PrometheusClient,
    rules: &[Rule],
    tier: &mut TierPlan,
    metadata: &BTreeMap<String, String>,
) -> Result<(), JobError> {
    if tier.windows.is_empty() {
        return Ok(());
    }
    for (index, rule) in rules.iter().enumerate() {
        let selector = plan::source_selector(&rule.selector);
        let mut per_window: Vec<BTreeMap<String, u64>> = Vec::with_capacity(tier.windows.len());
        for window in &tier.windows {
            // last_over_time keeps the metric name (count_over_time drops it).
            let query = format!(
                "count by (__name__) (last_over_time({selector}[{}s]))",
                window.seconds()
            );
            let answer = source.query(&query, window.end - Duration::milliseconds(1)).await?;
            per_window.push(
                answer
                    .into_iter()
                    .map(|s| (s.labels.get("__name__").cloned().unwrap_or_default(), s.value as u64))
                    .collect(),
            );
        }
        tier.counts.push(plan::count_rule(index, rule, &per_window, metadata));
    }
    Ok(())
}
