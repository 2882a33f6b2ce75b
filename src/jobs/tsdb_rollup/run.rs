//! The run of the `tsdb-rollup` job: fetch each hour of raw samples once, roll it up (`rollup`),
//! remote-write the hour's rollups then its watermark, and a day's after its last hour.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
// Keys are 128-bit fingerprints (or metric names): foldhash, not SipHash, in the per-sample
// loop's maps.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use tokio_util::task::AbortOnDropHandle;
use tracing::info;

use super::execute::{Clients, receiver_of};
use super::fetch::{self, Prefetcher, Read};
use super::plan::{self, Plan, WATERMARK, Window};
use super::read_path;
use super::rollup::{self, Acc};
use super::settings::{Aggregate, Settings, Tier};
use crate::clients::prometheus::Labels;
use crate::clients::remote_write::{LabelSet, RemoteWriteClient, Sample, TimeSeries, WriteRequest};
use crate::jobs::{JobContext, JobError, Outcome};

/// What the run did, for the outcome's counts.
#[derive(Debug, Default)]
struct Tally {
    raw_series: u64,
    raw_samples: u64,
    /// Samples written, watermarks included.
    samples: u64,
    watermarks: u64,
    requests: u64,
    bytes: u64,
    hours: u64,
    days: u64,
}

/// Hours of hourly rollups sent in one write (with the hour watermark at the last one's end),
/// unless MAX_PENDING_SAMPLES (about 16 bytes each, plus shared labels) come first.
const HOURS_PER_WRITE: usize = 24;
const MAX_PENDING_SAMPLES: usize = 1_000_000;

/// One day being accumulated from its hours: per series, its statistics and rollup names.
type DayAccs = HashMap<u128, (Acc, Arc<Naming>)>;

pub(super) async fn run(ctx: &JobContext, settings: &Settings, plan: Plan) -> Result<Outcome, JobError> {
    let pending: BTreeMap<Tier, usize> = plan.tiers.iter().map(|t| (t.tier, t.pending)).collect();
    let mut tally = Tally::default();
    if !plan.chunks.is_empty() {
        ctx.check_clock()?;
        let clients = Clients::new(ctx, settings)?;
        let writer = clients.writer(receiver_of(&plan));
        roll(ctx, settings, &plan, &clients, &writer, &mut tally).await?;
    }
    let span = |tier: Tier| {
        let windows = plan.windows(tier);
        match (windows.first(), windows.last()) {
            (Some(first), Some(last)) => format!(" ({} → {})", first.start.to_rfc3339(), last.end.to_rfc3339()),
            _ => String::new(),
        }
    };
    let waiting: usize = pending.values().sum();
    let summary = format!(
        "{} rollup sample(s) written in {} request(s): {} hour window(s){}, {} day window(s){}{}",
        tally.samples - tally.watermarks,
        tally.requests,
        tally.hours,
        span(Tier::Hour),
        tally.days,
        span(Tier::Day),
        if waiting > 0 {
            format!("; {waiting} window(s) left for the next runs (max_windows_per_run)")
        } else {
            String::new()
        }
    );
    let mut outcome = Outcome::success(summary)
        .count("windows_1h", tally.hours)
        .count("windows_1d", tally.days)
        .count(
            "pending_windows_1h",
            pending.get(&Tier::Hour).copied().unwrap_or(0) as u64,
        )
        .count(
            "pending_windows_1d",
            pending.get(&Tier::Day).copied().unwrap_or(0) as u64,
        )
        .count("raw_series_read", tally.raw_series)
        .count("raw_samples_read", tally.raw_samples)
        .count("rollup_samples_written", tally.samples - tally.watermarks)
        .count("watermarks_written", tally.watermarks)
        .count("write_requests", tally.requests)
        .count("bytes_written", tally.bytes);
    outcome.warnings = plan.warnings.clone();
    Ok(outcome)
}

async fn roll(
    ctx: &JobContext,
    settings: &Settings,
    plan: &Plan,
    clients: &Clients,
    writer: &RemoteWriteClient,
    tally: &mut Tally,
) -> Result<(), JobError> {
    let days = plan.windows(Tier::Day);
    let selectors: Arc<Vec<Read>> = Arc::new(
        settings
            .rules
            .iter()
            .map(|r| {
                let selector = plan::source_matchers(&r.selector);
                Read {
                    text: selector.render(),
                    matchers: read_path::matchers(&selector),
                }
            })
            .collect(),
    );
    // Per rule and metric: its aggregates and rollup names, computed once.
    let mut namings: Vec<HashMap<String, Arc<Naming>>> = vec![HashMap::new(); selectors.len()];
    // Per rule: each series' last sample of the previous hour (the next hour's counter baseline).
    // Series are known by a 128-bit fingerprint of their labels (a collision is astronomically
    // unlikely); their labels are converted for remote write once per run.
    let mut carried: Vec<HashMap<u128, (i64, f64)>> = vec![HashMap::new(); selectors.len()];
    let mut day_accs: DayAccs = HashMap::new();
    let mut label_sets: HashMap<u128, LabelSet> = HashMap::new();
    // Only needed when several rules may select the same series.
    let dedup = selectors.len() > 1;
    let chunks = &plan.chunks;
    let mut fetcher = Prefetcher::new(clients.raw.clone(), plan.read, selectors.clone(), chunks);
    // Hourly rollups wait for up to HOURS_PER_WRITE hours: one series per rollup and batch,
    // its samples in time order (the receiver converts a series' labels once per batch).
    let mut hourly: HashMap<u128, (Arc<Naming>, Vec<Vec<Sample>>)> = HashMap::new();
    let mut batched: Vec<Window> = Vec::new();
    let mut pending = 0usize;
    let mut writes = Writes {
        writer: writer.clone(),
        max: settings.max_series_per_request,
        running: None,
    };
    for (k, chunk) in chunks.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let window = chunk.window;
        let end_ms = window.end.timestamp_millis();
        let (group, hour) = fetcher.next().await?;
        let contiguous = fetch::contiguous(chunks, k);
        let mut seen: HashSet<u128> = HashSet::new();
        for (index, series) in group.rules.iter().enumerate() {
            let mut next: HashMap<u128, (i64, f64)> = HashMap::with_capacity(series.len());
            for raw in series {
                let points = group.points(hour, raw);
                if points.is_empty() {
                    continue;
                }
                let labels = &raw.labels;
                tally.raw_series += 1;
                tally.raw_samples += points.len() as u64;
                let Some(name) = labels.get("__name__") else {
                    continue;
                };
                let id = rollup::fingerprint(labels);
                // A series two rules select is rolled up once, by the first.
                if dedup && !seen.insert(id) {
                    continue;
                }
                let baseline = if contiguous {
                    carried[index].get(&id).copied()
                } else {
                    None
                };
                if let Some(acc) = rollup::accumulate(points, &window, baseline) {
                    let naming = match namings[index].get(name) {
                        Some(naming) => naming.clone(),
                        None => {
                            let list = plan::aggregates_for(name, &settings.rules[index], &plan.metadata);
                            let naming = Arc::new(Naming::new(name, list));
                            namings[index].insert(name.clone(), naming.clone());
                            naming
                        }
                    };
                    label_sets.entry(id).or_insert_with(|| LabelSet::new(labels));
                    if chunk.hour {
                        let (_, samples) = hourly
                            .entry(id)
                            .or_insert_with(|| (naming.clone(), vec![Vec::new(); naming.aggregates.len()]));
                        for (aggregate, samples) in naming.aggregates.iter().zip(samples) {
                            if let Some(value) = acc.value(*aggregate, window.seconds()) {
                                let timestamp = window.stamp_ms();
                                samples.push(Sample { value, timestamp });
                                pending += 1;
                            }
                        }
                    }
                    if chunk.day.is_some() {
                        day_accs
                            .entry(id)
                            .and_modify(|entry| entry.0.merge(&acc))
                            .or_insert((acc, naming));
                    }
                }
                if let Some(last) = rollup::last_before(points, end_ms) {
                    next.insert(id, last);
                }
            }
            carried[index] = next;
        }
        if chunk.hour {
            batched.push(window);
        }
        let last = k + 1 == chunks.len() || !chunks[k + 1].hour;
        if let (Some(first), Some(end)) = (batched.first(), batched.last())
            && (batched.len() >= HOURS_PER_WRITE || pending >= MAX_PENDING_SAMPLES || last)
        {
            let mut series = Vec::with_capacity(hourly.len() * 4 + 1);
            for (id, (naming, per_aggregate)) in hourly.drain() {
                let Some(set) = label_sets.get(&id) else { continue };
                for (name, samples) in naming.hour.iter().zip(per_aggregate) {
                    if !samples.is_empty() {
                        series.push(set.series(name.clone(), samples));
                    }
                }
            }
            series.push(watermark(&ctx.job.name, Tier::Hour, end));
            let what = format!(
                "writing the 1h rollups of {} → {}",
                first.start.to_rfc3339(),
                end.end.to_rfc3339()
            );
            writes
                .send(series, Tier::Hour, batched.len() as u64, what, tally)
                .await?;
            batched.clear();
            pending = 0;
        }
        if let (true, Some(day)) = (chunk.closes_day, chunk.day.and_then(|i| days.get(i))) {
            let mut daily = Vec::new();
            for (id, (acc, naming)) in day_accs.drain() {
                if let Some(set) = label_sets.get(&id) {
                    push_rollups(&mut daily, set, &naming, Tier::Day, &acc, day);
                }
            }
            daily.push(watermark(&ctx.job.name, Tier::Day, day));
            let what = format!("writing the 1d rollups of {}", day.start.to_rfc3339());
            writes.send(daily, Tier::Day, 1, what, tally).await?;
            info!(message = "day rolled up", start = %day.start.to_rfc3339(), hours = day.seconds() / 3600);
        }
    }
    writes.finish(tally).await?;
    Ok(())
}

/// What a rule writes for one metric: its aggregates and their rollup names per tier.
#[derive(Debug)]
struct Naming {
    aggregates: Vec<Aggregate>,
    hour: Vec<Bytes>,
    day: Vec<Bytes>,
}

impl Naming {
    fn new(metric: &str, aggregates: Vec<Aggregate>) -> Self {
        let names = |tier: Tier| {
            aggregates
                .iter()
                .map(|a| Bytes::from(plan::rollup_name(metric, tier, *a)))
                .collect()
        };
        Self {
            hour: names(Tier::Hour),
            day: names(Tier::Day),
            aggregates,
        }
    }
}

/// One sample per aggregate, named `<metric>:<tier>_<aggregate>`, with the series' labels.
fn push_rollups(out: &mut Vec<TimeSeries>, labels: &LabelSet, naming: &Naming, tier: Tier, acc: &Acc, window: &Window) {
    let names = match tier {
        Tier::Hour => &naming.hour,
        Tier::Day => &naming.day,
    };
    for (aggregate, name) in naming.aggregates.iter().zip(names) {
        let Some(value) = acc.value(*aggregate, window.seconds()) else {
            continue;
        };
        let sample = Sample {
            value,
            timestamp: window.stamp_ms(),
        };
        out.push(labels.series(name.clone(), vec![sample]));
    }
}

/// `almanac_rollup_watermark{job, tier}` = the window's end (unix seconds), stamped like its rollups.
fn watermark(job: &str, tier: Tier, window: &Window) -> TimeSeries {
    let labels = Labels::from([
        ("__name__".to_string(), WATERMARK.to_string()),
        ("job".to_string(), job.to_string()),
        ("tier".to_string(), tier.label().to_string()),
    ]);
    TimeSeries::new(
        &labels,
        vec![Sample {
            value: window.end.timestamp() as f64,
            timestamp: window.stamp_ms(),
        }],
    )
}

/// What a background write hands back: the tier, its new watermark and the tally.
type WriteResult = Result<(Tier, u64, Tally), JobError>;

/// The remote writes of a run, one window at a time and in order, each in the background
/// while the next hour is rolled up: a window's write starts once the previous one succeeded.
struct Writes {
    writer: RemoteWriteClient,
    max: usize,
    running: Option<AbortOnDropHandle<WriteResult>>,
}

impl Writes {
    /// Waits for the previous write, then starts this one: `windows` of `tier`, `series`
    /// ending with their watermark.
    async fn send(
        &mut self,
        series: Vec<TimeSeries>,
        tier: Tier,
        windows: u64,
        what: String,
        tally: &mut Tally,
    ) -> Result<(), JobError> {
        self.finish(tally).await?;
        let (writer, max) = (self.writer.clone(), self.max);
        self.running = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            write(&writer, series, max)
                .await
                .map(|done| (tier, windows, done))
                .map_err(|e| e.context(what))
        })));
        Ok(())
    }

    /// Waits for the write under way, if any, and counts it.
    async fn finish(&mut self, tally: &mut Tally) -> Result<(), JobError> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        let (tier, windows, done) = running
            .await
            .map_err(|e| JobError::fatal(anyhow::anyhow!("remote write: {e}")))??;
        tally.requests += done.requests;
        tally.bytes += done.bytes;
        tally.samples += done.samples;
        tally.watermarks += 1;
        match tier {
            Tier::Hour => tally.hours += windows,
            Tier::Day => tally.days += windows,
        }
        Ok(())
    }
}

/// Writes `series` in requests of at most `max` series; the last (with the watermark, pushed
/// last) is sent only after all the others were accepted.
async fn write(writer: &RemoteWriteClient, mut series: Vec<TimeSeries>, max: usize) -> Result<Tally, JobError> {
    let mut done = Tally::default();
    while !series.is_empty() {
        let rest = series.split_off(series.len().min(max));
        let samples: u64 = series.iter().map(|s| s.samples.len() as u64).sum();
        let bytes = writer.write(&WriteRequest { timeseries: series }).await?;
        done.requests += 1;
        done.bytes += bytes as u64;
        done.samples += samples;
        series = rest;
    }
    Ok(done)
}
