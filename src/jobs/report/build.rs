//! Turns settings into queries, runs them, and assembles the report's view: stat rows with
//! changes and statuses, charts, SLOs, the overall status and the subject line.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::day::{Level, Unit, change, promql_duration};
use super::query::{self, QueryResult, QuerySpec, When};
use super::render::{ChartView, LegendItem, PanelView, ReportView, SectionView, SloView, StatRow};
use super::{Plan, Settings};
use super::{chart, mime, slo};
use crate::clients::prometheus::{PrometheusClient, Sample};
use crate::jobs::{JobContext, JobError};

/// What a query is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Purpose {
    Stat,
    PreviousStat,
    Chart,
    SloWindow,
    SloDay,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Self::Stat => "stat",
            Self::PreviousStat => "stat, day before",
            Self::Chart => "chart",
            Self::SloWindow => "SLI over window",
            Self::SloDay => "SLI over day",
        }
    }
}

/// A query with the panel (or SLO) it belongs to: `(section, panel)` or SLO index.
#[derive(Debug, Clone)]
pub struct Owned {
    pub owner: String,
    pub section: Option<usize>,
    pub index: usize,
    pub purpose: Purpose,
    pub spec: QuerySpec,
}

/// A PromQL duration for a chart step: `5m`, `1h`, `30s`.
fn step_duration(step: u64) -> String {
    if step.is_multiple_of(3600) {
        format!("{}h", step / 3600)
    } else if step.is_multiple_of(60) {
        format!("{}m", step / 60)
    } else {
        format!("{step}s")
    }
}

/// The report day and the day before (each with its real length: DST).
#[derive(Debug, Clone, Copy)]
pub struct Days {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub prev_start: DateTime<Utc>,
    pub prev_end: DateTime<Utc>,
}

/// Every query of a report, in a stable order.
pub fn specs(settings: &Settings, days: Days) -> Vec<Owned> {
    let (start, end) = (days.start, days.end);
    let step = settings.step.as_std().as_secs().max(1);
    let interval = step_duration(step);
    let day_seconds = (end - start).num_seconds();
    let range = promql_duration(day_seconds);
    let prev_seconds = (days.prev_end - days.prev_start).num_seconds();
    let mut out = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        for (p, panel) in section.panels.iter().enumerate() {
            let owner = format!("{} / {}", section.title, panel.title);
            let push = |out: &mut Vec<Owned>, purpose, expr: String, when| {
                out.push(Owned {
                    owner: owner.clone(),
                    section: Some(s),
                    index: p,
                    purpose,
                    spec: QuerySpec { expr, when },
                })
            };
            if let Some(q) = &panel.query {
                push(
                    &mut out,
                    Purpose::Stat,
                    query::expand(q, &range, day_seconds, &interval),
                    When::At(end),
                );
            }
            if let Some(q) = &panel.query {
                push(
                    &mut out,
                    Purpose::PreviousStat,
                    query::expand(q, &promql_duration(prev_seconds), prev_seconds, &interval),
                    When::At(days.prev_end),
                );
            }
            if let Some(q) = &panel.chart {
                push(
                    &mut out,
                    Purpose::Chart,
                    query::expand(q, &range, day_seconds, &interval),
                    When::Range { start, end, step },
                );
            }
        }
    }
    for (i, objective) in settings.slos.iter().enumerate() {
        let window = objective.window.as_std().as_secs() as i64;
        for (purpose, seconds) in [(Purpose::SloWindow, window), (Purpose::SloDay, day_seconds)] {
            out.push(Owned {
                owner: format!("SLO / {}", objective.name),
                section: None,
                index: i,
                purpose,
                spec: QuerySpec {
                    expr: query::expand(&objective.sli, &promql_duration(seconds), seconds, &interval),
                    when: When::At(end),
                },
            });
        }
    }
    out
}

/// The assembled report.
pub struct Built {
    pub view: ReportView,
    pub images: Vec<mime::Image>,
    pub panels: usize,
    pub failed_panels: usize,
    pub problems: Vec<String>,
}

fn no_data(reason: &str) -> String {
    format!("no data: {reason}")
}

/// Rows of a stat: one per series, biggest first, the rest beyond `top` summed as "other".
fn stat_rows(
    samples: &[Sample],
    previous: Option<&[Sample]>,
    panel: &super::PanelSettings,
    top: usize,
) -> Vec<StatRow> {
    let name = |s: &Sample| {
        if samples.len() == 1 && panel.legend.is_none() {
            String::new()
        } else {
            // One series whose legend renders empty is the panel's single value.
            query::legend(panel.legend.as_deref(), &s.labels)
        }
    };
    let mut values: Vec<(String, f64, Option<f64>)> = samples
        .iter()
        .map(|s| {
            let label = name(s);
            let prev = previous.and_then(|prev| {
                prev.iter()
                    .find(|p| p.labels == s.labels || (samples.len() == 1 && prev.len() == 1))
                    .map(|p| p.value)
            });
            (label, s.value, prev)
        })
        .collect();
    values.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if values.len() > top + 1 {
        let rest = values.split_off(top);
        let sum = rest.iter().map(|r| r.1).sum::<f64>();
        let prev = rest.iter().map(|r| r.2).sum::<Option<f64>>();
        values.push((format!("other ({})", rest.len()), sum, prev));
    }
    values
        .into_iter()
        .map(|(label, value, prev)| StatRow {
            label,
            value: panel.unit.format(value, panel.decimals),
            change: prev.and_then(|p| change(value, p)).unwrap_or_default(),
            level: panel.thresholds.map(|t| t.level(value)).unwrap_or(if value.is_nan() {
                Level::NoData
            } else {
                Level::Info
            }),
        })
        .collect()
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Draws every chart at once on the blocking pool (plotters is CPU-bound and single-threaded),
/// keyed by `(section, panel)`.
async fn render_charts<'a>(
    settings: &Settings,
    find: &impl Fn(Option<usize>, usize, Purpose) -> Option<(&'a Owned, &'a QueryResult)>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> HashMap<(usize, usize), Result<Option<chart::Chart>, String>> {
    let step = settings.step.as_std().as_secs();
    let top = settings.top_series;
    // One chart per core at a time: more threads only add memory (a bitmap and an allocator
    // arena each), not speed.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(cores));
    let mut drawing = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        for (p, panel) in section.panels.iter().enumerate() {
            if let Some((_, QueryResult::Range(series))) = find(Some(s), p, Purpose::Chart) {
                let (series, legend, unit) = (series.clone(), panel.legend.clone(), panel.unit);
                let permits = permits.clone();
                let task = tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    tokio::task::spawn_blocking(move || {
                        chart::render(&series, legend.as_deref(), unit, start, end, step, tz, top)
                    })
                    .await
                });
                drawing.push(((s, p), task));
            }
        }
    }
    let mut charts = HashMap::new();
    for (key, task) in drawing {
        let drawn = match task.await {
            Ok(Ok(drawn)) => drawn,
            Ok(Err(error)) | Err(error) => Err(format!("the chart could not be drawn: {error}")),
        };
        charts.insert(key, drawn);
    }
    charts
}

pub async fn build(
    ctx: &JobContext,
    settings: &Settings,
    plan: &Plan,
    prometheus: &PrometheusClient,
) -> Result<Built, JobError> {
    let tz = ctx.job.timezone.0;
    let (start, end) = (plan.start, plan.end);
    let day_seconds = (end - start).num_seconds();
    let specs = specs(settings, plan.days());
    let queries: Vec<QuerySpec> = specs.iter().map(|o| o.spec.clone()).collect();
    let started = std::time::Instant::now();
    let results = query::run_all(
        prometheus,
        &queries,
        settings.parallelism,
        settings.query_timeout.as_std(),
    )
    .await;
    tracing::info!(
        queries = queries.len(),
        failed = results.iter().filter(|r| r.failed().is_some()).count(),
        seconds = started.elapsed().as_secs_f64(),
        "queries finished"
    );
    let started = std::time::Instant::now();
    let essential = specs
        .iter()
        .zip(&results)
        .filter(|(o, _)| o.purpose != Purpose::PreviousStat);
    let (total, failed) = essential.fold((0, 0), |(t, f), (_, r)| (t + 1, f + usize::from(r.failed().is_some())));
    if total > 0 && failed == total {
        let reason = results.iter().find_map(|r| r.failed()).unwrap_or("unknown");
        return Err(JobError::transient(anyhow::anyhow!(
            "every Prometheus query failed (first: {reason}); no report sent"
        )));
    }
    let find = |section: Option<usize>, index: usize, purpose: Purpose| {
        specs
            .iter()
            .zip(&results)
            .find(|(o, _)| o.section == section && o.index == index && o.purpose == purpose)
    };
    let range_hours = (day_seconds as f64 / 3600.0).ceil() as u32;
    let mut charts = render_charts(settings, &find, start, end, tz).await;
    let mut images = Vec::new();
    let mut problems = Vec::new();
    let mut panels = 0;
    let mut failed_panels = 0;
    let mut sections = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        let mut views = Vec::new();
        for (p, panel) in section.panels.iter().enumerate() {
            panels += 1;
            let mut view = PanelView {
                title: panel.title.clone(),
                description: panel.description.clone().unwrap_or_default(),
                rows: Vec::new(),
                chart: None,
                problem: None,
                level: Level::Info,
                link: String::new(),
            };
            let mut reasons = Vec::new();
            if let Some((owned, result)) = find(Some(s), p, Purpose::Stat) {
                view.link = prometheus.graph_link(&owned.spec.expr, end, range_hours);
                let previous = match find(Some(s), p, Purpose::PreviousStat) {
                    Some((_, QueryResult::Instant(prev))) => Some(prev.as_slice()),
                    _ => None,
                };
                match result {
                    QueryResult::Instant(samples) if samples.is_empty() => {
                        reasons.push("the query returned no series".to_string())
                    }
                    QueryResult::Instant(samples) => {
                        view.rows = stat_rows(samples, previous, panel, settings.top_series)
                    }
                    QueryResult::Failed(reason) => reasons.push(reason.clone()),
                    QueryResult::Range(_) => reasons.push("unexpected range result".into()),
                }
            }
            if let Some((owned, result)) = find(Some(s), p, Purpose::Chart) {
                if view.link.is_empty() {
                    view.link = prometheus.graph_link(&owned.spec.expr, end, range_hours);
                }
                match result {
                    QueryResult::Range(_) => match charts.remove(&(s, p)).unwrap_or(Ok(None)) {
                        Ok(Some(drawn)) => {
                            let cid = format!("{}-{}-{:02}-{}.png", ctx.job.name, plan.day, panels, slug(&panel.title));
                            let alt = format!(
                                "Chart: {} over {} ({})",
                                panel.title,
                                plan.day,
                                drawn
                                    .lines
                                    .iter()
                                    .map(|l| l.name.clone())
                                    .filter(|n| !n.is_empty())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            );
                            view.chart = Some(ChartView {
                                cid: cid.clone(),
                                alt: alt.replace(" ()", ""),
                                width: drawn.width,
                                height: drawn.height,
                                legend: drawn
                                    .lines
                                    .iter()
                                    .filter(|l| !l.name.is_empty())
                                    .map(|l| LegendItem {
                                        name: l.name.clone(),
                                        color: l.color.to_string(),
                                    })
                                    .collect(),
                            });
                            images.push(mime::Image { cid, png: drawn.png });
                        }
                        Ok(None) => reasons.push("no samples to chart over the day".into()),
                        Err(reason) => reasons.push(reason),
                    },
                    QueryResult::Failed(reason) => reasons.push(reason.clone()),
                    QueryResult::Instant(_) => reasons.push("unexpected instant result".into()),
                }
            }
            view.level = view.rows.iter().map(|r| r.level).max().unwrap_or(Level::Info);
            if !reasons.is_empty() {
                failed_panels += 1;
                let text = no_data(&reasons.join("; "));
                problems.push(format!("{} / {}: {text}", section.title, panel.title));
                view.problem = Some(text);
                view.level = view.level.max(Level::NoData);
            }
            views.push(view);
        }
        sections.push(SectionView {
            title: section.title.clone(),
            panels: views,
        });
    }

    let mut slos = Vec::new();
    for (i, objective) in settings.slos.iter().enumerate() {
        panels += 1;
        let value = |purpose| match find(None, i, purpose) {
            Some((_, QueryResult::Instant(samples))) if !samples.is_empty() => Ok(samples[0].value),
            Some((_, QueryResult::Instant(_))) => Err("the SLI query returned no series".to_string()),
            Some((_, QueryResult::Failed(reason))) => Err(reason.clone()),
            _ => Err("no query".to_string()),
        };
        let link = find(None, i, Purpose::SloWindow)
            .map(|(o, _)| {
                prometheus.graph_link(
                    &o.spec.expr,
                    end,
                    (objective.window.as_std().as_secs() / 3600).max(1) as u32,
                )
            })
            .unwrap_or_default();
        let percent = |v: f64| Unit::Percent.format(v, Some(3));
        let mut view = SloView {
            name: objective.name.clone(),
            description: objective.description.clone().unwrap_or_default(),
            objective: Unit::Percent.format(objective.objective, Some(1)),
            window: objective.window.to_string(),
            compliance: "n/a".into(),
            budget_left: "n/a".into(),
            burn_rate: "n/a".into(),
            level: Level::NoData,
            problem: None,
            link,
        };
        match (value(Purpose::SloWindow), value(Purpose::SloDay)) {
            (Ok(window), Ok(day)) => {
                let status = slo::evaluate(window, day, objective.objective);
                view.compliance = percent(status.compliance);
                view.budget_left = if status.budget_left <= 0.0 {
                    "exhausted".into()
                } else {
                    Unit::Percent.format(status.budget_left, Some(1))
                };
                view.burn_rate = format!("{:.2}×", status.burn_rate);
                view.level = status.level;
            }
            (Err(reason), _) | (_, Err(reason)) => {
                failed_panels += 1;
                problems.push(format!("SLO {}: {}", objective.name, no_data(&reason)));
                view.problem = Some(no_data(&reason));
            }
        }
        slos.push(view);
    }

    let levels: Vec<Level> = sections
        .iter()
        .flat_map(|s| s.panels.iter().map(|p| p.level))
        .chain(slos.iter().map(|s| s.level))
        .collect();
    let worst = levels
        .iter()
        .copied()
        .filter(|l| *l != Level::Info)
        .max()
        .unwrap_or(Level::Ok);
    let count = |level: Level| levels.iter().filter(|l| **l == level).count();
    let mut summary = vec![
        format!("{} OK", count(Level::Ok)),
        format!("{} warning", count(Level::Warning)),
        format!("{} critical", count(Level::Critical)),
    ];
    if failed_panels > 0 {
        summary.push(format!("{failed_panels} without data"));
    }
    let status_text = if failed_panels > 0 && worst <= Level::NoData {
        "INCOMPLETE".to_string()
    } else if failed_panels > 0 {
        format!("{} (incomplete)", worst.label())
    } else {
        worst.label().to_string()
    };
    let subject = settings
        .subject
        .replace("{title}", &settings.title)
        .replace("{date}", &plan.day.to_string())
        .replace("{status}", &status_text);
    let local_start = start.with_timezone(&tz);
    let view = ReportView {
        title: settings.title.clone(),
        subject,
        day: local_start.format("%A %-d %B %Y").to_string(),
        period: format!(
            "{} 00:00 → {} 00:00 {} ({} h)",
            plan.day,
            end.with_timezone(&tz).format("%Y-%m-%d"),
            tz,
            day_seconds / 3600
        ),
        status: worst,
        summary: summary.join(" · "),
        sections,
        slos,
        generated_at: ctx.now.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
        run_id: ctx.run_id.clone(),
        job: ctx.job.name.clone(),
        prometheus: plan.prometheus.clone(),
    };
    tracing::info!(
        charts = images.len(),
        seconds = started.elapsed().as_secs_f64(),
        "report assembled"
    );
    Ok(Built {
        view,
        images,
        panels,
        failed_panels,
        problems,
    })
}
