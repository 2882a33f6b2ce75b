//! The report assembled without I/O: query results and drawn charts (plain data) → stat rows,
//! panels, SLOs, the overall status and the subject line.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::chart::{Chart, ChartError};
use super::day::{Level, Unit, change};
use super::plan::{Owned, Plan, Purpose};
use super::query::{self, QueryResult};
use super::render::{ChartView, LegendItem, PanelView, ReportView, SectionView, SloView, StatRow};
use super::settings::{PanelSettings, SloSettings};
use super::{Settings, mime, slo};
use crate::clients::prometheus::Sample;

/// Drawn charts by `(section, panel)`: `Ok(None)` when there was nothing finite to draw.
pub type Charts = HashMap<(usize, usize), Result<Option<Chart>, ChartError>>;

/// A link to an expression in the Prometheus UI: `(expr, end, range in hours)`.
pub type GraphLink<'a> = &'a dyn Fn(&str, DateTime<Utc>, u32) -> String;

/// The queries of a report beside their results (same order).
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    specs: &'a [Owned],
    results: &'a [QueryResult],
}

impl<'a> Answers<'a> {
    pub fn new(specs: &'a [Owned], results: &'a [QueryResult]) -> Self {
        debug_assert_eq!(specs.len(), results.len(), "one result per query");
        Self { specs, results }
    }

    /// The query of a panel (`section: Some`) or an SLO (`None`) for `purpose`, and its result.
    pub fn find(&self, section: Option<usize>, index: usize, purpose: Purpose) -> Option<(&'a Owned, &'a QueryResult)> {
        self.specs
            .iter()
            .zip(self.results)
            .find(|(o, _)| o.section == section && o.index == index && o.purpose == purpose)
    }

    /// Queries that failed (or timed out).
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| r.failed().is_some()).count()
    }

    /// When every query that matters failed (the day-before stats do not count): the first
    /// reason. Nothing is worth sending then.
    pub fn all_failed(&self) -> Option<&'a str> {
        let essential = self
            .specs
            .iter()
            .zip(self.results)
            .filter(|(o, _)| o.purpose != Purpose::PreviousStat);
        let (total, failed) = essential.fold((0, 0), |(t, f), (_, r)| (t + 1, f + usize::from(r.failed().is_some())));
        (total > 0 && failed == total).then(|| self.results.iter().find_map(|r| r.failed()).unwrap_or("unknown"))
    }
}

/// Who runs the report, and when.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub job: &'a str,
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
    pub tz: Tz,
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
pub fn stat_rows(samples: &[Sample], previous: Option<&[Sample]>, panel: &PanelSettings, top: usize) -> Vec<StatRow> {
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

/// Where a panel sits: `(section, panel)`, its number over the whole report (from 1) and
/// the section's title.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub section: usize,
    pub panel: usize,
    pub number: usize,
    pub section_title: &'a str,
}

/// A chart's view and its image (named `<job>-<day>-<number>-<slug>.png`).
fn chart_view(
    drawn: Chart,
    panel: &PanelSettings,
    job: &str,
    day: NaiveDate,
    number: usize,
) -> (ChartView, mime::Image) {
    let cid = format!("{job}-{day}-{number:02}-{}.png", slug(&panel.title));
    let names: Vec<String> = drawn
        .lines
        .iter()
        .map(|l| l.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let alt = format!("Chart: {} over {day} ({})", panel.title, names.join(", "));
    let view = ChartView {
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
    };
    (view, mime::Image { cid, png: drawn.png })
}

/// One panel: its stat rows and chart, or "no data: <reasons>". Returns the view, the chart's
/// image, and the problem line for the run's warnings.
#[allow(clippy::too_many_arguments)]
pub fn panel(
    settings: &Settings,
    panel: &PanelSettings,
    place: Place<'_>,
    plan: &Plan,
    job: &str,
    answers: &Answers<'_>,
    charts: &mut Charts,
    link: GraphLink<'_>,
) -> (PanelView, Option<mime::Image>, Option<String>) {
    let (s, p) = (place.section, place.panel);
    let end = plan.end;
    let range_hours = ((end - plan.start).num_seconds() as f64 / 3600.0).ceil() as u32;
    let mut view = PanelView {
        title: panel.title.clone(),
        description: panel.description.clone().unwrap_or_default(),
        rows: Vec::new(),
        chart: None,
        problem: None,
        level: Level::Info,
        link: String::new(),
    };
    let mut image = None;
    let mut reasons = Vec::new();
    if let Some((owned, result)) = answers.find(Some(s), p, Purpose::Stat) {
        view.link = link(&owned.spec.expr, end, range_hours);
        let previous = match answers.find(Some(s), p, Purpose::PreviousStat) {
            Some((_, QueryResult::Instant(prev))) => Some(prev.as_slice()),
            _ => None,
        };
        match result {
            QueryResult::Instant(samples) if samples.is_empty() => {
                reasons.push("the query returned no series".to_string())
            }
            QueryResult::Instant(samples) => view.rows = stat_rows(samples, previous, panel, settings.top_series),
            QueryResult::Failed(reason) => reasons.push(reason.clone()),
            QueryResult::Range(_) => reasons.push("unexpected range result".into()),
        }
    }
    if let Some((owned, result)) = answers.find(Some(s), p, Purpose::Chart) {
        if view.link.is_empty() {
            view.link = link(&owned.spec.expr, end, range_hours);
        }
        match result {
            QueryResult::Range(_) => match charts.remove(&(s, p)).unwrap_or(Ok(None)) {
                Ok(Some(drawn)) => {
                    let (chart, png) = chart_view(drawn, panel, job, plan.day, place.number);
                    view.chart = Some(chart);
                    image = Some(png);
                }
                Ok(None) => reasons.push("no samples to chart over the day".into()),
                Err(error) => reasons.push(error.to_string()),
            },
            QueryResult::Failed(reason) => reasons.push(reason.clone()),
            QueryResult::Instant(_) => reasons.push("unexpected instant result".into()),
        }
    }
    view.level = view.rows.iter().map(|r| r.level).max().unwrap_or(Level::Info);
    let mut problem = None;
    if !reasons.is_empty() {
        let text = no_data(&reasons.join("; "));
        problem = Some(format!("{} / {}: {text}", place.section_title, panel.title));
        view.problem = Some(text);
        view.level = view.level.max(Level::NoData);
    }
    (view, image, problem)
}

/// One SLO: compliance, budget left and burn rate from its two SLIs, or "no data: <reason>".
/// Returns the view and the problem line for the run's warnings.
pub fn slo(
    objective: &SloSettings,
    index: usize,
    end: DateTime<Utc>,
    answers: &Answers<'_>,
    link: GraphLink<'_>,
) -> (SloView, Option<String>) {
    let value = |purpose| match answers.find(None, index, purpose) {
        Some((_, QueryResult::Instant(samples))) if !samples.is_empty() => Ok(samples[0].value),
        Some((_, QueryResult::Instant(_))) => Err("the SLI query returned no series".to_string()),
        Some((_, QueryResult::Failed(reason))) => Err(reason.clone()),
        _ => Err("no query".to_string()),
    };
    let link = answers
        .find(None, index, Purpose::SloWindow)
        .map(|(o, _)| {
            link(
                &o.spec.expr,
                end,
                (objective.window.as_std().as_secs() / 3600).max(1) as u32,
            )
        })
        .unwrap_or_default();
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
            view.compliance = Unit::Percent.format(status.compliance, Some(3));
            view.budget_left = if status.budget_left <= 0.0 {
                "exhausted".into()
            } else {
                Unit::Percent.format(status.budget_left, Some(1))
            };
            view.burn_rate = format!("{:.2}×", status.burn_rate);
            view.level = status.level;
            (view, None)
        }
        (Err(reason), _) | (_, Err(reason)) => {
            view.problem = Some(no_data(&reason));
            (view, Some(format!("SLO {}: {}", objective.name, no_data(&reason))))
        }
    }
}

/// The overall status of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Overall {
    /// Worst level of panels and SLOs (neutral panels aside); `Ok` when all are neutral.
    pub level: Level,
    /// For the subject: `CRITICAL`, `WARNING (incomplete)`, `INCOMPLETE`...
    pub text: String,
    /// `3 OK · 1 warning · 0 critical · 2 without data`.
    pub summary: String,
}

/// The status of a report from the levels of its panels and SLOs and how many lack data.
pub fn overall(sections: &[SectionView], slos: &[SloView], failed_panels: usize) -> Overall {
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
    let text = if failed_panels > 0 && worst <= Level::NoData {
        "INCOMPLETE".to_string()
    } else if failed_panels > 0 {
        format!("{} (incomplete)", worst.label())
    } else {
        worst.label().to_string()
    };
    Overall {
        level: worst,
        text,
        summary: summary.join(" · "),
    }
}

/// The subject line: `{title}`, `{date}` and `{status}` of the template replaced.
pub fn subject(settings: &Settings, day: NaiveDate, status: &str) -> String {
    settings
        .subject
        .replace("{title}", &settings.title)
        .replace("{date}", &day.to_string())
        .replace("{status}", status)
}

/// The whole report from the query results and the drawn charts.
pub fn assemble(
    settings: &Settings,
    plan: &Plan,
    run: Run<'_>,
    answers: &Answers<'_>,
    mut charts: Charts,
    link: GraphLink<'_>,
) -> Built {
    let tz = run.tz;
    let (start, end) = (plan.start, plan.end);
    let mut images = Vec::new();
    let mut problems = Vec::new();
    let mut panels = 0;
    let mut failed_panels = 0;
    let mut sections = Vec::new();
    for (s, section) in settings.sections.iter().enumerate() {
        let mut views = Vec::new();
        for (p, settings_of) in section.panels.iter().enumerate() {
            panels += 1;
            let place = Place {
                section: s,
                panel: p,
                number: panels,
                section_title: &section.title,
            };
            let (view, image, problem) = panel(settings, settings_of, place, plan, run.job, answers, &mut charts, link);
            images.extend(image);
            if let Some(problem) = problem {
                failed_panels += 1;
                problems.push(problem);
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
        let (view, problem) = slo(objective, i, end, answers, link);
        if let Some(problem) = problem {
            failed_panels += 1;
            problems.push(problem);
        }
        slos.push(view);
    }
    let status = overall(&sections, &slos, failed_panels);
    let view = ReportView {
        title: settings.title.clone(),
        subject: subject(settings, plan.day, &status.text),
        day: start.with_timezone(&tz).format("%A %-d %B %Y").to_string(),
        period: format!(
            "{} 00:00 → {} 00:00 {} ({} h)",
            plan.day,
            end.with_timezone(&tz).format("%Y-%m-%d"),
            tz,
            (end - start).num_seconds() / 3600
        ),
        status: status.level,
        summary: status.summary,
        sections,
        slos,
        generated_at: run.now.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
        run_id: run.run_id.to_string(),
        job: run.job.to_string(),
        prometheus: plan.prometheus.clone(),
    };
    Built {
        view,
        images,
        panels,
        failed_panels,
        problems,
    }
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
