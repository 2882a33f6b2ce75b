//! The report assembled without I/O: query results and drawn charts (plain data) → panels
//! (`panel.rs`), SLOs, the maintenance section, the overall status and the subject line.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::chart::{Chart, ChartError};
use super::day::Level;
use super::locale::{self, Catalogue};
use super::maintenance::{self, Metric};
use super::panel::{self, Context, Place};
use super::period::Period;
use super::plan::{Owned, Plan, Purpose};
use super::query::QueryResult;
use super::render::{ReportView, SectionView, SloView};
use super::settings::{Compare, default_subject};
use super::{Settings, mime};
// What the unit tests (`assemble_tests.rs`, `use super::*`) use from the modules around.
#[cfg(test)]
use {
    super::panel::{slug, stat_rows},
    super::settings::PanelSettings,
    crate::clients::prometheus::Sample,
};

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

    /// When every query that matters failed (comparisons and the maintenance section do not
    /// count): the first reason. Nothing is worth sending then.
    pub fn all_failed(&self) -> Option<&'a str> {
        let essential = self
            .specs
            .iter()
            .zip(self.results)
            .filter(|(o, _)| o.purpose.essential());
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

/// The overall status of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Overall {
    /// Worst level of panels and SLOs (neutral panels aside); `Ok` when all are neutral.
    pub level: Level,
    /// For the subject: `CRITICAL`, `WARNING (incomplete)`, `INCOMPLETE`...
    pub text: String,
    /// `3 OK · 1 warning · 0 critical · 2 without data · 1 unusual · 1 maintenance job late`.
    pub summary: String,
}

/// The status of a report in English: see [`overall_in`].
pub fn overall(sections: &[SectionView], slos: &[SloView], failed_panels: usize) -> Overall {
    overall_in(sections, slos, failed_panels, 0, Catalogue::english())
}

/// The status of a report from the levels of its panels and SLOs, how many lack data, how
/// many are unusual and how many maintenance jobs are late, in `catalogue`'s language.
pub fn overall_in(
    sections: &[SectionView],
    slos: &[SloView],
    failed_panels: usize,
    late_jobs: usize,
    catalogue: &Catalogue,
) -> Overall {
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
        catalogue.count("summary.ok", count(Level::Ok)),
        catalogue.count("summary.warning", count(Level::Warning)),
        catalogue.count("summary.critical", count(Level::Critical)),
    ];
    let unusual = sections.iter().flat_map(|s| &s.panels).filter(|p| p.unusual).count();
    for (key, n) in [
        ("summary.no_data", failed_panels),
        ("summary.unusual", unusual),
        ("summary.late", late_jobs),
    ] {
        if n > 0 {
            summary.push(catalogue.count(key, n));
        }
    }
    let text = if failed_panels > 0 && worst <= Level::NoData {
        catalogue.t("status.incomplete").to_string()
    } else if failed_panels > 0 {
        catalogue.fill("status.partly_incomplete", &[("status", catalogue.t(worst.key()))])
    } else {
        catalogue.t(worst.key()).to_string()
    };
    Overall {
        level: worst,
        text,
        summary: summary.join(" · "),
    }
}

/// The subject line in English: see [`subject_in`].
pub fn subject(settings: &Settings, day: NaiveDate, status: &str) -> String {
    subject_in(settings, day, status, Catalogue::english())
}

/// The subject line: `{title}`, `{date}` (short), `{day}` (long) and `{status}` of the
/// template filled once (a title holding `{status}` stays as written). The default template
/// is the language's own. A weekly or monthly report's `{date}` and `{day}` both name its
/// period (`week of 23 November 2026`, `November 2026`), `day` being its first day.
pub fn subject_in(settings: &Settings, day: NaiveDate, status: &str, catalogue: &Catalogue) -> String {
    let daily = settings.period == Period::Day;
    let template = match settings.subject == default_subject() {
        true if daily => catalogue.t("subject"),
        true => catalogue.t("subject.period"),
        false => settings.subject.as_str(),
    };
    let name = settings.period.name(day, catalogue);
    let date = if daily { catalogue.short_date(day) } else { name.clone() };
    locale::fill(
        template,
        &[
            ("title", &settings.title),
            ("date", &date),
            ("day", &name),
            ("status", status),
        ],
    )
}

/// The whole report from the query results and the drawn charts, in the job's language.
pub fn assemble(
    settings: &Settings,
    plan: &Plan,
    run: Run<'_>,
    answers: &Answers<'_>,
    charts: Charts,
    link: GraphLink<'_>,
) -> Built {
    let catalogue = Catalogue::of(&settings.locale);
    assemble_in(settings, plan, run, answers, charts, link, catalogue)
}

/// [`assemble`] in `catalogue`'s language.
pub fn assemble_in(
    settings: &Settings,
    plan: &Plan,
    run: Run<'_>,
    answers: &Answers<'_>,
    mut charts: Charts,
    link: GraphLink<'_>,
    catalogue: &'static Catalogue,
) -> Built {
    let tz = run.tz;
    let (start, end) = (plan.start, plan.end);
    let ctx = Context {
        settings,
        plan,
        job: run.job,
        tz,
        catalogue,
        link,
    };
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
            let (view, image, problem) = panel::panel(&ctx, settings_of, place, answers, &mut charts);
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
        let (view, problem) = panel::slo(&ctx, objective, i, answers);
        if let Some(problem) = problem {
            failed_panels += 1;
            problems.push(problem);
        }
        slos.push(view);
    }
    let maintenance = plan.maintenance_at.map(|at| {
        let results: Vec<(Metric, &QueryResult)> = Metric::ALL
            .into_iter()
            .filter_map(|m| answers.find(None, 0, Purpose::Maintenance(m)).map(|(_, r)| (m, r)))
            .collect();
        maintenance::view(&plan.maintenance, &results, at, tz, catalogue)
    });
    let late = maintenance.as_ref().map_or(0, |m| m.late);
    let status = overall_in(&sections, &slos, failed_panels, late, catalogue);
    let view = ReportView {
        title: settings.title.clone(),
        subject: subject_in(settings, plan.day, &status.text, catalogue),
        day: plan.period.name(plan.day, catalogue),
        period: catalogue.fill(
            "period",
            &[
                ("start", &catalogue.short_date(plan.day)),
                ("end", &catalogue.short_date(end.with_timezone(&tz).date_naive())),
                ("zone", tz.name()),
                ("hours", &((end - start).num_seconds() / 3600).to_string()),
            ],
        ),
        status: status.level,
        status_label: status.text,
        summary: status.summary,
        sections,
        slos,
        maintenance,
        generated_at: catalogue.datetime(run.now.with_timezone(&tz)),
        run_id: run.run_id.to_string(),
        job: run.job.to_string(),
        prometheus: plan.prometheus.clone(),
        day_changes: settings.compares(Compare::Day),
        versus: catalogue.t(plan.period.versus_key()).to_string(),
        changes: catalogue.t(changes_key(plan.period)).to_string(),
        no_baseline: settings.compares(Compare::Week) && !plan.period.has_baseline(),
        baselines: !plan.week.is_empty(),
        catalogue,
    };
    Built {
        view,
        images,
        panels,
        failed_panels,
        problems,
    }
}

/// The footer's sentence on what changes compare with.
fn changes_key(period: Period) -> &'static str {
    match period {
        Period::Day => "footer.changes",
        Period::Week => "footer.changes_week",
        Period::Month => "footer.changes_month",
    }
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
