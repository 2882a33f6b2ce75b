//! Fetching raw samples hour by hour, one group of hours ahead: remote read asks for several
//! contiguous hours at once (stored chunks span up to 120 samples), the query API for one.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;

use super::plan::{self, Chunk, Window};
use super::read_path::ReadPath;
use crate::clients::prometheus::raw::{RawClient, RawSeries};
use crate::clients::prometheus::remote_read::LabelMatcher;
use crate::jobs::JobError;

/// A rule's source selector, as PromQL and as remote read's matchers.
pub struct Read {
    pub text: String,
    pub matchers: Vec<LabelMatcher>,
}

/// Samples of one group of hours held at once (about 16 bytes each, plus labels), which sets
/// how many hours remote read asks for together; the fetched group and the one being rolled
/// up are both in memory.
const GROUP_SAMPLES: usize = 1_000_000;
/// At most a day per read.
const MAX_GROUP_HOURS: usize = 24;

/// The raw samples of a group of hours, per rule, read once; each hour takes its part of
/// every series in place (no copies: memory is the group's samples, once).
#[derive(Debug, Default)]
pub struct Group {
    /// Per hour of the group: the `[start, end]` ms span it needs.
    spans: Vec<(i64, i64)>,
    /// Per rule: the series, points in time order.
    pub rules: Vec<Vec<RawSeries>>,
}

impl Group {
    /// The points of `series` hour `hour` needs (empty: the series has none there, and a read
    /// of that hour alone would not have listed it).
    pub fn points<'s>(&self, hour: usize, series: &'s RawSeries) -> &'s [(i64, f64)] {
        let (start, end) = self.spans[hour];
        let from = series.points.partition_point(|p| p.0 < start);
        let to = series.points.partition_point(|p| p.0 <= end);
        &series.points[from..to.max(from)]
    }
}

/// A group being read, and how many hours it covers.
type Running = (AbortOnDropHandle<Result<Vec<Group>, JobError>>, usize);

/// What one hour needs: the samples `selector[range]` holds at `at` (its end − 1 ms;
/// Prometheus 2 includes both ends), `range` reaching an hour further back when the previous
/// hour is not in memory (the counter baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    at: DateTime<Utc>,
    range_seconds: i64,
}

impl Span {
    fn of(chunks: &[Chunk], k: usize) -> Self {
        let window = chunks[k].window;
        let contiguous = contiguous(chunks, k);
        Self {
            at: window.end - Duration::milliseconds(1),
            range_seconds: window.seconds() + if contiguous { 0 } else { plan::BASELINE_SECONDS },
        }
    }
    fn end_ms(&self) -> i64 {
        self.at.timestamp_millis()
    }
    fn start_ms(&self) -> i64 {
        self.end_ms() - self.range_seconds * 1000
    }
}

/// Whether chunk `k` starts where the previous one ended.
pub fn contiguous(chunks: &[Chunk], k: usize) -> bool {
    k > 0 && chunks[k - 1].window.end == chunks[k].window.start
}

/// The hours from `k`, at most `max`, that one read covers: contiguous ones only.
pub fn group_len(chunks: &[Chunk], k: usize, max: usize) -> usize {
    let mut n = 1;
    while n < max && k + n < chunks.len() && contiguous(chunks, k + n) {
        n += 1;
    }
    n.min(chunks.len() - k)
}

/// Hours per read for the next group, from the samples per hour seen so far.
pub fn next_group_hours(path: ReadPath, samples: usize, hours: usize) -> usize {
    match path {
        ReadPath::Query => 1,
        ReadPath::RemoteRead => {
            let per_hour = (samples / hours.max(1)).max(1);
            (GROUP_SAMPLES / per_hour).clamp(1, MAX_GROUP_HOURS)
        }
    }
}

/// Reads the hours of `spans` for every rule: one remote read per rule for all of them, or
/// one query per hour and rule (one group per hour).
async fn fetch_group(
    raw: RawClient,
    path: ReadPath,
    selectors: Arc<Vec<Read>>,
    windows: Vec<Window>,
    spans: Vec<Span>,
) -> Result<Vec<Group>, JobError> {
    let bounds: Vec<(i64, i64)> = spans.iter().map(|s| (s.start_ms(), s.end_ms())).collect();
    let mut groups: Vec<Group> = match path {
        ReadPath::RemoteRead => vec![Group {
            spans: bounds.clone(),
            rules: Vec::new(),
        }],
        ReadPath::Query => bounds
            .iter()
            .map(|b| Group {
                spans: vec![*b],
                rules: Vec::new(),
            })
            .collect(),
    };
    for (index, selector) in selectors.iter().enumerate() {
        let context = |e| {
            JobError::from(e).context(format!(
                "rules[{index}] ({}): reading {} → {}",
                selector.text,
                windows[0].start.to_rfc3339(),
                windows[windows.len() - 1].end.to_rfc3339()
            ))
        };
        match path {
            ReadPath::RemoteRead => {
                let start = bounds.iter().map(|b| b.0).min().unwrap_or_default();
                let end = bounds.iter().map(|b| b.1).max().unwrap_or_default();
                let series = raw.read(&selector.matchers, start, end).await.map_err(context)?;
                debug!(
                    message = "raw samples read",
                    rule = index,
                    start_ms = start,
                    end_ms = end,
                    series = series.len(),
                    samples = series.iter().map(|s| s.points.len()).sum::<usize>()
                );
                groups[0].rules.push(series);
            }
            ReadPath::Query => {
                for (group, span) in groups.iter_mut().zip(&spans) {
                    let series = raw
                        .samples(&selector.text, span.range_seconds, span.at)
                        .await
                        .map_err(context)?;
                    group.rules.push(series);
                }
            }
        }
    }
    Ok(groups)
}

/// Hands out the plan's hours in order, the next group being read while the current one is
/// rolled up and written (the server answers the read while it ingests the writes).
pub struct Prefetcher<'a> {
    raw: RawClient,
    path: ReadPath,
    selectors: Arc<Vec<Read>>,
    chunks: &'a [Chunk],
    /// The next chunk not yet asked for.
    next: usize,
    /// Groups read, and the next hour of the first one.
    ready: VecDeque<Group>,
    hour: usize,
    running: Option<Running>,
}

impl<'a> Prefetcher<'a> {
    pub fn new(raw: RawClient, path: ReadPath, selectors: Arc<Vec<Read>>, chunks: &'a [Chunk]) -> Self {
        let mut prefetcher = Self {
            raw,
            path,
            selectors,
            chunks,
            next: 0,
            ready: VecDeque::new(),
            hour: 0,
            running: None,
        };
        prefetcher.start(1);
        prefetcher
    }

    fn start(&mut self, hours: usize) {
        if self.next >= self.chunks.len() {
            return;
        }
        let n = group_len(self.chunks, self.next, hours);
        let range = self.next..self.next + n;
        let windows: Vec<Window> = self.chunks[range.clone()].iter().map(|c| c.window).collect();
        let spans: Vec<Span> = range.map(|k| Span::of(self.chunks, k)).collect();
        let task = fetch_group(self.raw.clone(), self.path, self.selectors.clone(), windows, spans);
        self.running = Some((AbortOnDropHandle::new(tokio::spawn(task)), n));
        self.next += n;
    }

    /// The group holding the next hour, and that hour's index in it.
    pub async fn next(&mut self) -> Result<(&Group, usize), JobError> {
        if self.ready.front().is_some_and(|g| self.hour >= g.spans.len()) {
            self.ready.pop_front();
            self.hour = 0;
        }
        if self.ready.is_empty() {
            let (handle, n) = self
                .running
                .take()
                .ok_or_else(|| JobError::fatal(anyhow::anyhow!("internal: asked for an hour past the plan's last")))?;
            let groups = handle
                .await
                .map_err(|e| JobError::fatal(anyhow::anyhow!("reading raw samples: {e}")))??;
            let samples: usize = groups
                .iter()
                .flat_map(|g| &g.rules)
                .flatten()
                .map(|s| s.points.len())
                .sum();
            self.start(next_group_hours(self.path, samples, n));
            self.ready.extend(groups);
        }
        self.hour += 1;
        let group = self.ready.front().expect("a group was just read");
        Ok((group, self.hour - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::prometheus::Labels;

    fn hour(start: &str) -> Chunk {
        let start: DateTime<Utc> = start.parse().unwrap();
        Chunk {
            window: Window {
                start,
                end: start + Duration::hours(1),
            },
            hour: true,
            day: None,
            closes_day: false,
        }
    }

    #[test]
    fn groups_stop_at_a_gap_and_at_their_size() {
        let chunks = [
            hour("2026-11-01T00:00:00Z"),
            hour("2026-11-01T01:00:00Z"),
            hour("2026-11-01T02:00:00Z"),
            hour("2026-11-01T05:00:00Z"),
            hour("2026-11-01T06:00:00Z"),
        ];
        assert_eq!(group_len(&chunks, 0, 24), 3);
        assert_eq!(group_len(&chunks, 0, 2), 2);
        assert_eq!(group_len(&chunks, 3, 24), 2);
        assert_eq!(group_len(&chunks, 4, 24), 1);
        // A group's first hour after a gap reaches back for its baseline; the others do not.
        assert_eq!(Span::of(&chunks, 3).range_seconds, 7200);
        assert_eq!(Span::of(&chunks, 4).range_seconds, 3600);
    }

    #[test]
    fn group_size_follows_the_samples_per_hour() {
        assert_eq!(next_group_hours(ReadPath::Query, 10, 1), 1);
        // 10 000 series every 5 minutes: 120 000 samples an hour, 8 hours per read.
        assert_eq!(next_group_hours(ReadPath::RemoteRead, 120_000, 1), 8);
        // Every 15 s: 2.4 M an hour, one hour per read.
        assert_eq!(next_group_hours(ReadPath::RemoteRead, 2_400_000, 1), 1);
        assert_eq!(next_group_hours(ReadPath::RemoteRead, 0, 1), 24);
    }

    #[test]
    fn each_hour_takes_its_span_of_the_groups_series() {
        let series = RawSeries {
            labels: Labels::from([("__name__".into(), "a".into())]),
            points: vec![(0, 1.0), (999, 2.0), (1000, 3.0), (1999, 4.0), (2000, 5.0)],
        };
        let group = Group {
            spans: vec![(1000, 1999), (1999, 2999), (3000, 3999)],
            rules: vec![vec![series]],
        };
        let s = &group.rules[0][0];
        assert_eq!(group.points(0, s), &[(1000, 3.0), (1999, 4.0)]);
        assert_eq!(group.points(1, s), &[(1999, 4.0), (2000, 5.0)]);
        assert!(group.points(2, s).is_empty());
    }
}
