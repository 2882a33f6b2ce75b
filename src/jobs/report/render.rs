//! The report as people read it: view models filled by the job, rendered through the askama
//! templates `templates/report.html` (inline CSS, 640 px tables) and `templates/report.txt`.

use askama::Template;
use serde::Serialize;

use super::day::Level;

/// One value row of a stat panel (one row per series for breakdowns).
#[derive(Debug, Clone, Serialize)]
pub struct StatRow {
    /// Series name (empty for a single value).
    pub label: String,
    pub value: String,
    /// `↑ 3.20 %` against the day before, or empty.
    pub change: String,
    pub level: Level,
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
    pub compliance: String,
    pub budget_left: String,
    pub burn_rate: String,
    pub level: Level,
    pub problem: Option<String>,
    pub link: String,
}

/// Everything the templates show.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub title: String,
    pub subject: String,
    /// e.g. "Tuesday 24 November 2026".
    pub day: String,
    /// e.g. "00:00–24:00 Europe/Paris (24 h)".
    pub period: String,
    pub status: Level,
    /// One line under the title: counts of panels by status.
    pub summary: String,
    pub sections: Vec<SectionView>,
    pub slos: Vec<SloView>,
    pub generated_at: String,
    pub run_id: String,
    pub job: String,
    pub prometheus: String,
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
    pub fn html(&self) -> Result<String, askama::Error> {
        Html { r: self }.render()
    }
    pub fn text(&self) -> Result<String, askama::Error> {
        Text { r: self }.render()
    }
}
