//! Where an SLO's window is read, decided without I/O: raw series for the part the raw
//! retention still holds when the report runs, the `:1h_*` rollups for the part before it.
//!
//! The window `[end − window, end]` is split at the first UTC hour at or after
//! `end + RAW_MARGIN − raw_retention`: the report may run up to a day after its period ends
//! (the shipped one runs 7 h after), and raw samples older than `raw_retention` before that
//! moment may be deleted already. The older part `[start, boundary]` is evaluated at
//! `boundary` with `$__range` = its length over the rollups (stamped `hour end − 1 ms`, so the
//! range holds exactly its hours), the recent part at `end` over raw series. The hours are the
//! rollup job's hours: UTC hours (its zone's hours for whole-hour zones), so DST is irrelevant.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use super::day::promql_duration;
use super::plan::{Owned, Purpose};
use super::query::{self, QuerySpec, When};
use super::slo_settings::{SliForm, SloSettings};
use crate::config::HumanDuration;

/// How long after its period ends a report may run and still read its raw part: one day.
pub const RAW_MARGIN_SECONDS: i64 = 86_400;

/// What a part of an SLO window is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Raw,
    Rollup,
}

/// One part of an SLO window: `[start, end]`, evaluated at `end` over `end − start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Part {
    pub source: Source,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Part {
    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }
}

/// Which events a query counts, and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloPart {
    /// The whole window, raw.
    Whole,
    /// The window's recent part, raw.
    Recent,
    /// The window's older part, rollups.
    Older,
    /// The report's period (the burn rate), raw.
    Day,
}

/// The parts the window `[start, end]` is read in: one raw part unless `raw_retention` is
/// known, rollup expressions exist, and the window reaches before the first hour whose raw
/// samples are sure to be kept when the report runs (see the module's documentation).
pub fn split(start: DateTime<Utc>, end: DateTime<Utc>, raw_retention: Option<Duration>, rollups: bool) -> Vec<Part> {
    let whole = |source| vec![Part { source, start, end }];
    let Some(retention) = raw_retention.filter(|_| rollups) else {
        return whole(Source::Raw);
    };
    let oldest_kept = end + Duration::seconds(RAW_MARGIN_SECONDS) - retention;
    let boundary = hour_ceil(oldest_kept);
    if boundary <= start {
        whole(Source::Raw)
    } else if boundary >= end {
        whole(Source::Rollup)
    } else {
        vec![
            Part {
                source: Source::Rollup,
                start,
                end: boundary,
            },
            Part {
                source: Source::Raw,
                start: boundary,
                end,
            },
        ]
    }
}

/// The first UTC hour boundary at or after `t`.
fn hour_ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.duration_trunc(Duration::hours(1)).unwrap_or(t);
    if floor == t { t } else { floor + Duration::hours(1) }
}

/// The parts of `objective`'s window ending at `end` (one raw part for an `sli`).
pub fn parts(objective: &SloSettings, end: DateTime<Utc>, report_raw_retention: Option<HumanDuration>) -> Vec<Part> {
    let start = end - objective.window.as_chrono();
    let rollups = matches!(objective.form(), SliForm::Events { rollup: Some(_), .. });
    let retention = objective
        .raw_retention(report_raw_retention)
        .map(HumanDuration::as_chrono);
    split(start, end, retention, rollups)
}

/// `--dry-run`: how one SLO's window is read.
#[derive(Debug, Clone, Serialize)]
pub struct SloRead {
    pub slo: String,
    pub parts: Vec<Part>,
}

impl SloRead {
    /// Whether a part is read from rollups.
    pub fn rollups(&self) -> bool {
        self.parts.iter().any(|p| p.source == Source::Rollup)
    }

    /// `API availability: rollups 2026-10-26 00:00 → 2026-11-11 00:00 UTC, raw → 2026-11-25 00:00 UTC`.
    pub fn line(&self) -> String {
        let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                let source = match p.source {
                    Source::Raw => "raw",
                    Source::Rollup => "rollups",
                };
                format!("{source} {} → {}", time(p.start), time(p.end))
            })
            .collect();
        format!("SLO {}: {}", self.slo, parts.join(", "))
    }
}

/// How each SLO's window is read, for the plan.
pub fn reads(slos: &[SloSettings], end: DateTime<Utc>, report_raw_retention: Option<HumanDuration>) -> Vec<SloRead> {
    slos.iter()
        .map(|objective| SloRead {
            slo: objective.name.clone(),
            parts: parts(objective, end, report_raw_retention),
        })
        .collect()
}

/// The queries of SLO `index` for the period `[start, end]`: the SLI over the window and over
/// the period (`sli`), or the good and total events of each part of the window and of the
/// period (events).
pub fn specs(
    objective: &SloSettings,
    index: usize,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    interval: &str,
    report_raw_retention: Option<HumanDuration>,
) -> Vec<Owned> {
    let owner = format!("SLO / {}", objective.name);
    let spec = |purpose, expr: &str, seconds: i64, at| Owned {
        owner: owner.clone(),
        section: None,
        index,
        purpose,
        spec: QuerySpec {
            expr: query::expand(expr, &promql_duration(seconds), seconds, interval),
            when: When::At(at),
        },
    };
    let period = (end - start).num_seconds();
    match objective.form() {
        SliForm::Ratio(sli) => {
            let window = objective.window.as_std().as_secs() as i64;
            vec![
                spec(Purpose::SloWindow, sli, window, end),
                spec(Purpose::SloDay, sli, period, end),
            ]
        }
        SliForm::Events { good, total, rollup } => {
            let parts = parts(objective, end, report_raw_retention);
            let mut out = Vec::new();
            for part in &parts {
                let (which, (good, total)) = match (part.source, rollup) {
                    (Source::Rollup, Some(rollup)) => (SloPart::Older, rollup),
                    _ if parts.len() == 1 => (SloPart::Whole, (good, total)),
                    _ => (SloPart::Recent, (good, total)),
                };
                out.push(spec(Purpose::SloGood(which), good, part.seconds(), part.end));
                out.push(spec(Purpose::SloTotal(which), total, part.seconds(), part.end));
            }
            out.push(spec(Purpose::SloGood(SloPart::Day), good, period, end));
            out.push(spec(Purpose::SloTotal(SloPart::Day), total, period, end));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn days(n: i64) -> Option<Duration> {
        Some(Duration::days(n))
    }

    #[test]
    fn a_window_inside_the_raw_retention_is_one_raw_part() {
        let end = utc("2026-11-24T23:00:00Z");
        let start = end - Duration::days(7);
        let raw = vec![Part {
            source: Source::Raw,
            start,
            end,
        }];
        assert_eq!(split(start, end, days(15), true), raw);
        // 14 days + the day of margin = exactly 15 days: still raw.
        assert_eq!(
            split(end - Duration::days(14), end, days(15), true)[0].source,
            Source::Raw
        );
        assert_eq!(split(end - Duration::days(14), end, days(15), true).len(), 1);
        // No retention known, or no rollup expressions: raw, however long the window.
        assert_eq!(split(end - Duration::days(30), end, None, true).len(), 1);
        assert_eq!(split(end - Duration::days(30), end, days(15), false).len(), 1);
    }

    #[test]
    fn a_longer_window_is_split_at_the_raw_retention_less_the_margin() {
        // A Paris day ending at 23:00 UTC (winter), 30-day window, raw kept 15 days.
        let end = utc("2026-11-24T23:00:00Z");
        let start = end - Duration::days(30);
        let parts = split(start, end, days(15), true);
        let boundary = utc("2026-11-10T23:00:00Z");
        assert_eq!(
            parts,
            vec![
                Part {
                    source: Source::Rollup,
                    start,
                    end: boundary
                },
                Part {
                    source: Source::Raw,
                    start: boundary,
                    end
                },
            ]
        );
        assert_eq!(parts[0].seconds(), 16 * 86_400);
        assert_eq!(parts[1].seconds(), 14 * 86_400);
        // A retention that is no whole number of hours: the boundary is the next UTC hour.
        let odd = split(start, end, Some(Duration::days(15) - Duration::minutes(20)), true);
        assert_eq!(odd[0].end, utc("2026-11-11T00:00:00Z"));
        assert_eq!(odd[1].start, odd[0].end);
    }

    #[test]
    fn dst_days_change_nothing_but_the_period_end() {
        // 25 October 2026 in Paris: 25 h, ending 2026-10-25T23:00Z (after the switch).
        let end = utc("2026-10-25T23:00:00Z");
        let parts = split(end - Duration::days(30), end, days(15), true);
        assert_eq!(parts[0].end, utc("2026-10-11T23:00:00Z"));
        assert_eq!(parts[0].end.timestamp() % 3600, 0);
    }

    #[test]
    fn events_have_queries_per_part_and_for_the_day() {
        let objective: SloSettings = toml::from_str(
            "name = 'Av'\nobjective = 0.999\nwindow = '30d'\ngood = 'g[$__range]'\ntotal = 't[$__range]'\n\
             good_rollup = 'gr[$__range]'\ntotal_rollup = 'tr[$__range]'",
        )
        .unwrap();
        let end = utc("2026-11-24T23:00:00Z");
        let start = end - Duration::days(1);
        let got: Vec<(Purpose, String, When)> =
            specs(&objective, 0, (start, end), "5m", Some(HumanDuration::from_days(15)))
                .into_iter()
                .map(|o| (o.purpose, o.spec.expr, o.spec.when))
                .collect();
        let boundary = utc("2026-11-10T23:00:00Z");
        assert_eq!(
            got,
            vec![
                (Purpose::SloGood(SloPart::Older), "gr[384h]".into(), When::At(boundary)),
                (Purpose::SloTotal(SloPart::Older), "tr[384h]".into(), When::At(boundary)),
                (Purpose::SloGood(SloPart::Recent), "g[336h]".into(), When::At(end)),
                (Purpose::SloTotal(SloPart::Recent), "t[336h]".into(), When::At(end)),
                (Purpose::SloGood(SloPart::Day), "g[24h]".into(), When::At(end)),
                (Purpose::SloTotal(SloPart::Day), "t[24h]".into(), When::At(end)),
            ]
        );
        // Without a raw retention: the whole window raw.
        let whole = specs(&objective, 0, (start, end), "5m", None);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0].purpose, Purpose::SloGood(SloPart::Whole));
        assert_eq!(whole[0].spec.expr, "g[720h]");
        let read = reads(
            std::slice::from_ref(&objective),
            end,
            Some(HumanDuration::from_days(15)),
        );
        assert_eq!(
            read[0].line(),
            "SLO Av: rollups 2026-10-25 23:00 UTC → 2026-11-10 23:00 UTC, raw 2026-11-10 23:00 UTC → 2026-11-24 23:00 UTC"
        );
    }
}
