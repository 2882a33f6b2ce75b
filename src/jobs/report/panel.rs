//! One panel and one SLO of the report (pure): stat rows compared with the day before and the
//! previous 7 days, the chart's view and image, and "no data" reasons, in the report's language.

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::assemble::{Answers, Charts, GraphLink};
use super::baseline::{self, DAYS};
use super::chart::Chart;
use super::day::{Level, Unit};
use super::locale::Catalogue;
use super::numbers::{self, decimal, relative_change};
use super::period::Period;
use super::plan::{Plan, Purpose};
use super::query::{self, QueryResult};
use super::render::{ChartView, LegendItem, PanelView, SloView, StatRow};
use super::settings::{Compare, PanelSettings, SloSettings};
use super::{Settings, mime, slo};
use crate::clients::prometheus::{Labels, Sample};

/// What the panels of one report share.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub settings: &'a Settings,
    pub plan: &'a Plan,
    pub job: &'a str,
    pub tz: Tz,
    pub catalogue: &'a Catalogue,
    pub link: GraphLink<'a>,
}

/// Why a panel has no data: a fixed text (a catalogue key) or what a server or plotters said
/// (shown as it is).
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    Fixed(&'static str),
    Said(String),
}

/// `no data: <reasons>` in `catalogue`'s language.
pub fn no_data(reasons: &[Reason], catalogue: &Catalogue) -> String {
    let texts: Vec<String> = reasons
        .iter()
        .map(|r| match r {
            Reason::Fixed(key) => catalogue.t(key).to_string(),
            Reason::Said(text) => text.clone(),
        })
        .collect();
    catalogue.fill("problem.no_data", &[("reason", &texts.join("; "))])
}

/// How stat rows are compared.
#[derive(Debug, Clone, Copy)]
pub struct Comparison<'a> {
    pub catalogue: &'a Catalogue,
    /// Rows beyond this are summed as "other".
    pub top: usize,
    /// Show the change against the day before.
    pub day: bool,
    /// Compare with the previous 7 days: the report day's weekday and the tolerance of
    /// "unusual".
    pub week: Option<(&'a str, f64)>,
}

/// Rows of a stat in English against the day before: see [`stat_rows_in`].
pub fn stat_rows(samples: &[Sample], previous: Option<&[Sample]>, panel: &PanelSettings, top: usize) -> Vec<StatRow> {
    let comparison = Comparison {
        catalogue: Catalogue::english(),
        top,
        day: true,
        week: None,
    };
    stat_rows_in(samples, &[previous], panel, &comparison)
}

/// The value of a row (the sum of its series) on a previous day; one series against one
/// series is the same value whatever its labels.
fn value_on(day: &[Sample], members: &[&Labels], single: bool) -> Option<f64> {
    if single && day.len() == 1 {
        return Some(day[0].value);
    }
    members
        .iter()
        .map(|labels| day.iter().find(|p| &p.labels == *labels).map(|p| p.value))
        .sum()
}

/// Rows of a stat: one per series, biggest first, the rest beyond `top` summed as "other";
/// `history` holds the stat's answers on the previous days, day−1 first.
pub fn stat_rows_in(
    samples: &[Sample],
    history: &[Option<&[Sample]>],
    panel: &PanelSettings,
    comparison: &Comparison<'_>,
) -> Vec<StatRow> {
    let catalogue = comparison.catalogue;
    let single = samples.len() == 1;
    let name = |s: &Sample| {
        if single && panel.legend.is_none() {
            String::new()
        } else {
            // One series whose legend renders empty is the panel's single value.
            query::legend(panel.legend.as_deref(), &s.labels)
        }
    };
    let mut rows: Vec<(String, f64, Vec<&Labels>)> =
        samples.iter().map(|s| (name(s), s.value, vec![&s.labels])).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if rows.len() > comparison.top + 1 {
        let rest = rows.split_off(comparison.top);
        let sum = rest.iter().map(|r| r.1).sum::<f64>();
        let label = catalogue.count("row.other", rest.len());
        rows.push((label, sum, rest.into_iter().flat_map(|r| r.2).collect()));
    }
    let format = |v: f64| panel.unit.format_in(v, panel.decimals, catalogue);
    rows.into_iter()
        .map(|(label, value, members)| {
            let on: Vec<Option<f64>> = history
                .iter()
                .map(|day| day.and_then(|day| value_on(day, &members, single)))
                .collect();
            let previous = on.first().copied().flatten().filter(|_| comparison.day);
            let mut row = StatRow {
                label,
                value: format(value),
                change: previous
                    .and_then(|p| relative_change(value, p, catalogue))
                    .unwrap_or_default(),
                day_change: previous
                    .map(|p| numbers::day_change(panel.unit, panel.decimals, value, p, catalogue))
                    .unwrap_or_default(),
                level: panel.thresholds.map(|t| t.level(value)).unwrap_or(if value.is_nan() {
                    Level::NoData
                } else {
                    Level::Info
                }),
                baseline: Vec::new(),
                unusual: false,
            };
            if let Some((weekday, tolerance)) = comparison.week {
                let base = baseline::baseline(&on);
                if let Some(week) = base.week {
                    let text = catalogue.fill("baseline.week", &[("weekday", weekday), ("value", &format(week))]);
                    row.baseline.push(text);
                }
                if let Some(median) = base.median {
                    row.baseline
                        .push(catalogue.fill("baseline.median", &[("value", &format(median))]));
                }
                // A flat week has no range worth a line.
                if let (Some(min), Some(max)) = (base.min, base.max)
                    && format(min) != format(max)
                {
                    let text = catalogue.fill("baseline.band", &[("min", &format(min)), ("max", &format(max))]);
                    row.baseline.push(text);
                }
                row.unusual = baseline::is_unusual(value, &base, tolerance, panel.unit == Unit::Percent);
            }
            row
        })
        .collect()
}

/// `Latency p95 (ms) / search` → `latency-p95-ms-search`; French accents fold to their letter
/// (`Requêtes` → `requetes`), other characters to `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'â' | 'ä' => "a",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'î' | 'ï' => "i",
            'ô' | 'ö' => "o",
            'ù' | 'û' | 'ü' => "u",
            'ç' => "c",
            'œ' => "oe",
            'æ' => "ae",
            _ => "",
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !folded.is_empty() {
            out.push_str(folded);
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
    ctx: &Context<'_>,
    day: NaiveDate,
    number: usize,
    band: bool,
) -> (ChartView, mime::Image) {
    let cid = format!("{}-{day}-{number:02}-{}.png", ctx.job, slug(&panel.title));
    let names: Vec<String> = drawn
        .lines
        .iter()
        .map(|l| l.name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let date = match ctx.plan.period {
        Period::Day => ctx.catalogue.short_date(day),
        period => period.name(day, ctx.catalogue),
    };
    let alt = if names.is_empty() {
        ctx.catalogue
            .fill("chart.alt", &[("title", &panel.title), ("date", &date)])
    } else {
        let series = names.join(", ");
        let values = [("title", panel.title.as_str()), ("date", &date), ("series", &series)];
        ctx.catalogue.fill("chart.alt_series", &values)
    };
    let view = ChartView {
        cid: cid.clone(),
        alt,
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
        band,
    };
    (view, mime::Image { cid, png: drawn.png })
}

fn instant<'a>(answers: &Answers<'a>, s: usize, p: usize, purpose: Purpose) -> Option<&'a [Sample]> {
    match answers.find(Some(s), p, purpose) {
        Some((_, QueryResult::Instant(samples))) => Some(samples.as_slice()),
        _ => None,
    }
}

/// One panel: its stat rows and chart, or "no data: <reasons>". Returns the view, the chart's
/// image, and the problem line for the run's warnings (in English).
pub fn panel(
    ctx: &Context<'_>,
    panel: &PanelSettings,
    place: Place<'_>,
    answers: &Answers<'_>,
    charts: &mut Charts,
) -> (PanelView, Option<mime::Image>, Option<String>) {
    let (s, p) = (place.section, place.panel);
    let (plan, settings, catalogue) = (ctx.plan, ctx.settings, ctx.catalogue);
    let end = plan.end;
    let range_hours = ((end - plan.start).num_seconds() as f64 / 3600.0).ceil() as u32;
    let mut view = PanelView {
        title: panel.title.clone(),
        description: panel.description.clone().unwrap_or_default(),
        rows: Vec::new(),
        chart: None,
        problem: None,
        level: Level::Info,
        level_label: String::new(),
        unusual: false,
        link: String::new(),
    };
    let mut image = None;
    let mut reasons = Vec::new();
    if let Some((owned, result)) = answers.find(Some(s), p, Purpose::Stat) {
        view.link = (ctx.link)(&owned.spec.expr, end, range_hours);
        let history: Vec<Option<&[Sample]>> = (1..=DAYS)
            .map(|n| match n {
                1 => instant(answers, s, p, Purpose::PreviousStat),
                n => instant(answers, s, p, Purpose::EarlierStat(n)),
            })
            .collect();
        let weekday = catalogue.weekday(plan.day);
        let comparison = Comparison {
            catalogue,
            top: settings.top_series,
            day: settings.compares(Compare::Day),
            week: (!plan.week.is_empty()).then_some((weekday, settings.unusual_tolerance)),
        };
        match result {
            QueryResult::Instant(samples) if samples.is_empty() => reasons.push(Reason::Fixed("reason.no_series")),
            QueryResult::Instant(samples) => view.rows = stat_rows_in(samples, &history, panel, &comparison),
            QueryResult::Failed(reason) => reasons.push(Reason::Said(reason.clone())),
            QueryResult::Range(_) => reasons.push(Reason::Fixed("reason.unexpected_range")),
        }
    }
    if let Some((owned, result)) = answers.find(Some(s), p, Purpose::Chart) {
        if view.link.is_empty() {
            view.link = (ctx.link)(&owned.spec.expr, end, range_hours);
        }
        match result {
            QueryResult::Range(_) => match charts.remove(&(s, p)).unwrap_or(Ok(None)) {
                Ok(Some(drawn)) => {
                    let week = match answers.find(Some(s), p, Purpose::ChartWeek) {
                        Some((_, QueryResult::Range(week))) => week.as_slice(),
                        _ => &[],
                    };
                    let step = plan.step;
                    let legend = panel.legend.as_deref();
                    let band = !baseline::bands(&drawn.lines, week, legend, plan.start, end, step, ctx.tz).is_empty();
                    let (chart, png) = chart_view(drawn, panel, ctx, plan.day, place.number, band);
                    view.chart = Some(chart);
                    image = Some(png);
                }
                Ok(None) => reasons.push(Reason::Fixed("reason.nothing_to_chart")),
                Err(error) => reasons.push(Reason::Said(error.to_string())),
            },
            QueryResult::Failed(reason) => reasons.push(Reason::Said(reason.clone())),
            QueryResult::Instant(_) => reasons.push(Reason::Fixed("reason.unexpected_instant")),
        }
    }
    view.level = view.rows.iter().map(|r| r.level).max().unwrap_or(Level::Info);
    view.unusual = view.rows.iter().any(|r| r.unusual);
    let mut problem = None;
    if !reasons.is_empty() {
        let english = no_data(&reasons, Catalogue::english());
        problem = Some(format!("{} / {}: {english}", place.section_title, panel.title));
        view.problem = Some(no_data(&reasons, catalogue));
        view.level = view.level.max(Level::NoData);
    }
    view.level_label = catalogue.t(view.level.key()).to_string();
    (view, image, problem)
}

/// One SLO: compliance, budget left and burn rate from its two SLIs, or "no data: <reason>".
/// Returns the view and the problem line for the run's warnings (in English).
pub fn slo(
    ctx: &Context<'_>,
    objective: &SloSettings,
    index: usize,
    answers: &Answers<'_>,
) -> (SloView, Option<String>) {
    let catalogue = ctx.catalogue;
    let window = objective.window.as_std().as_secs();
    let link = slo::link_expr(index, answers)
        .map(|expr| (ctx.link)(&expr, ctx.plan.end, (window / 3600).max(1) as u32))
        .unwrap_or_default();
    let target = Unit::Percent.format_in(objective.objective, Some(1), catalogue);
    let na = catalogue.t("value.na").to_string();
    let mut view = SloView {
        name: objective.name.clone(),
        description: objective.description.clone().unwrap_or_default(),
        target: catalogue.fill(
            "slo.target",
            &[("objective", &target), ("window", &catalogue.duration(window))],
        ),
        objective: target,
        window: catalogue.duration(window),
        compliance: na.clone(),
        budget_left: na.clone(),
        burn_rate: na,
        level: Level::NoData,
        level_label: String::new(),
        problem: None,
        link,
    };
    let [window_sli, day_sli] = slo::slis(objective, index, answers);
    let problem = match (window_sli, day_sli) {
        (Ok(window), Ok(day)) => {
            let status = slo::evaluate(window, day, objective.objective);
            view.compliance = Unit::Percent.format_in(status.compliance, Some(3), catalogue);
            view.budget_left = if status.budget_left <= 0.0 {
                catalogue.t("slo.exhausted").to_string()
            } else {
                Unit::Percent.format_in(status.budget_left, Some(1), catalogue)
            };
            let burn = decimal(status.burn_rate, 2, catalogue);
            view.burn_rate = catalogue.fill("unit.burn", &[("value", &burn)]);
            view.level = status.level;
            None
        }
        (Err(reason), _) | (_, Err(reason)) => {
            view.problem = Some(no_data(std::slice::from_ref(&reason), catalogue));
            let english = no_data(&[reason], Catalogue::english());
            Some(format!("SLO {}: {english}", objective.name))
        }
    };
    view.level_label = catalogue.t(view.level.key()).to_string();
    (view, problem)
}
