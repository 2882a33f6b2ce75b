//! The report as people read it: view models filled by the job, rendered through the askama
//! templates `templates/report.html` (inline CSS, 640 px tables) and `templates/report.txt`.

use askama::Template;
use serde::Serialize;

use super::day::Level;
use super::locale::Catalogue;
pub use super::maintenance::{MaintenanceRow, MaintenanceView};

/// One value row of a stat panel (one row per series for breakdowns).
#[derive(Debug, Clone, Serialize)]
pub struct StatRow {
    /// Series name (empty for a single value).
    pub label: String,
    pub value: String,
    /// `↑ 3.20 %` against the day before, or empty.
    pub change: String,
    /// The change as shown: ratios in points (`+0.10 pt (↑ 25.0 %)`), others as `change`.
    pub day_change: String,
    pub level: Level,
    /// `last Tuesday: 84.10/s`, `7-day median: …`, `7-day range: … – …` (`compare` week).
    pub baseline: Vec<String>,
    /// Outside the previous 7 days' range beyond the tolerance.
    pub unusual: bool,
}

/// A legend entry under a chart.
#[derive(Debug, Clone, Serialize)]
pub struct LegendItem {
    pub name: String,
    pub color: String,
}

/// A chart image attached to the email.
#[derive(Debug, Clone, Serialize)]
pub struct ChartView {
    /// Content-ID (without `cid:`), also the PNG's file name in `out/`.
    pub cid: String,
    pub alt: String,
    pub width: u32,
    pub height: u32,
    pub legend: Vec<LegendItem>,
    /// The previous 7 days' range is shaded behind the lines.
    pub band: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PanelView {
    pub title: String,
    pub description: String,
    pub rows: Vec<StatRow>,
    pub chart: Option<ChartView>,
    /// "no data: <reason>" when a query failed or returned nothing.
    pub problem: Option<String>,
    pub level: Level,
    /// The level's name in the report's language.
    pub level_label: String,
    /// A row is unusual against the previous 7 days.
    pub unusual: bool,
    /// The panel's query in the Prometheus expression browser.
    pub link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub title: String,
    pub panels: Vec<PanelView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SloView {
    pub name: String,
    pub description: String,
    pub objective: String,
    pub window: String,
    /// `99.9 % over 30d`.
    pub target: String,
    pub compliance: String,
    pub budget_left: String,
    pub burn_rate: String,
    pub level: Level,
    pub level_label: String,
    pub problem: Option<String>,
    pub link: String,
}

/// Everything the templates show.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub title: String,
    pub subject: String,
    /// e.g. "Tuesday 24 November 2026", "week of 23 November 2026", "November 2026".
    pub day: String,
    /// e.g. "2026-11-24 00:00 → 2026-11-25 00:00 Europe/Paris (24 h)".
    pub period: String,
    pub status: Level,
    /// The status as the subject says it (`WARNING (incomplete)`), in the report's language.
    pub status_label: String,
    /// One line under the title: counts of panels by status.
    pub summary: String,
    pub sections: Vec<SectionView>,
    pub slos: Vec<SloView>,
    /// The maintenance jobs' last runs, when shown.
    pub maintenance: Option<MaintenanceView>,
    pub generated_at: String,
    pub run_id: String,
    pub job: String,
    pub prometheus: String,
    /// Changes against the period before are shown.
    pub day_changes: bool,
    /// What changes compare with, under each change: `vs day before`, `vs previous week`...
    pub versus: String,
    /// The footer's sentence on the same.
    pub changes: String,
    /// `compare` asks for the 7-day baseline but the period is a week or a month: the footer
    /// says there is none.
    pub no_baseline: bool,
    /// Baselines of the previous 7 days are shown.
    pub baselines: bool,
    /// The report's language: every fixed text of the templates comes from it.
    #[serde(skip)]
    pub catalogue: &'static Catalogue,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Html<'a> {
    r: &'a ReportView,
}

#[derive(Template)]
#[template(path = "report.txt")]
struct Text<'a> {
    r: &'a ReportView,
}

impl ReportView {
    /// A fixed text of the templates in the report's language.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.catalogue.t(key)
    }
    /// A fixed text with its one placeholder `name` filled with `value`.
    pub fn fill(&self, key: &str, name: &str, value: &str) -> String {
        self.catalogue.fill(key, &[(name, value)])
    }
    /// `compliance 99.950 %, error budget left 50.0 %, burn rate 0.10×` (the text part).
    pub fn slo_line(&self, slo: &SloView) -> String {
        let values = [
            ("compliance", slo.compliance.as_str()),
            ("budget", &slo.budget_left),
            ("burn", &slo.burn_rate),
        ];
        self.catalogue.fill("slo.text", &values)
    }
    /// `Generated <time> by almanac (job <job>, run <run>) from` (the server follows).
    pub fn generated(&self) -> String {
        let values = [
            ("time", self.generated_at.as_str()),
            ("job", &self.job),
            ("run", &self.run_id),
        ];
        self.catalogue.fill("footer.generated", &values)
    }
    /// The HTML `lang`.
    pub fn lang(&self) -> &str {
        &self.catalogue.lang
    }
    pub fn html(&self) -> Result<String, askama::Error> {
        Html { r: self }.render()
    }
    pub fn text(&self) -> Result<String, askama::Error> {
        Text { r: self }.render()
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
