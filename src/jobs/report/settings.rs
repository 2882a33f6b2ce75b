//! Settings of a `report` job: recipients, delivery, query limits, and the sections, panels
//! and SLOs (defaults in `defaults.toml`, from the seed's dashboards and SLO definitions).

use std::path::PathBuf;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::day::{Thresholds, Unit};
use super::locale::{self, Catalogue};
use super::period::Period;
use crate::config::{HumanDuration, KeyPath, SettingsError};

/// Settings of a `[jobs.<name>]` table of kind `report` (boxed: the job-kind enum stays small).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Settings(pub Box<ReportSettings>);

impl std::ops::Deref for Settings {
    type Target = ReportSettings;
    fn deref(&self) -> &ReportSettings {
        &self.0
    }
}

/// The fields of a `report` job's table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Recipients (`To`). At least one of `to` and `cc` is required.
    #[serde(default)]
    pub to: Vec<String>,
    /// Copy recipients (`Cc`).
    #[serde(default)]
    pub cc: Vec<String>,
    /// Sender; default: `[smtp].from`, or `almanac <almanac@localhost>` without `[smtp]`.
    pub from: Option<String>,
    /// Heading of the report and start of the subject.
    #[serde(default = "default_title")]
    pub title: String,
    /// Subject line; `{title}`, `{date}` and `{status}` are replaced.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// Where the `.eml`, `.html` and PNGs go when no `[smtp]` is configured (relative to the
    /// working directory).
    #[serde(default = "default_out_dir")]
    pub out_dir: PathBuf,
    /// Queries running at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// Timeout of each query; a slow query leaves its panel "no data", the rest still goes out.
    #[serde(default = "default_query_timeout")]
    pub query_timeout: HumanDuration,
    /// Step of chart range queries (and `$__interval`).
    #[serde(default = "default_step")]
    pub step: HumanDuration,
    /// Series drawn (and rows listed) per panel before the rest is summed as "other".
    #[serde(default = "default_top_series")]
    pub top_series: usize,
    /// Sending attempts when the SMTP server answers 4xx (5xx is never retried).
    #[serde(default = "default_send_attempts")]
    pub send_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    #[serde(default = "default_send_backoff")]
    pub send_backoff: HumanDuration,
    /// Sections of panels, in order.
    #[serde(default = "default_sections")]
    pub sections: Vec<SectionSettings>,
    /// Service level objectives shown in their own table.
    #[serde(default = "default_slos")]
    pub slos: Vec<SloSettings>,
    /// How long raw series are kept (the `keep` of their `retain` rule, e.g. `15d`): SLOs given
    /// as events with rollup expressions read the part of their window older than this (less
    /// a day's margin) from the `:1h_*` rollups. An SLO's own `raw_retention` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_retention: Option<HumanDuration>,
    /// Language of the email (`locales/<code>.toml`): `en` or `fr`.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// What one report covers: `day` (yesterday), `week` (the last complete ISO week, Monday
    /// to Monday) or `month` (the last complete calendar month), in the job's time zone.
    #[serde(default)]
    pub period: Period,
    /// What each stat is compared with: `day` (the period before: the day, week or month
    /// before), `week` (the same weekday last week, the median and range of the previous 7
    /// days, "unusual" values, chart bands; daily reports only, see `Period::has_baseline`).
    #[serde(default = "default_compare")]
    pub compare: Vec<Compare>,
    /// A value is "unusual" outside the previous 7 days' range by more than this share of the
    /// range (or of its scale, when the range is narrow).
    #[serde(default = "default_unusual_tolerance")]
    pub unusual_tolerance: f64,
    /// The "Maintenance" section: almanac's own run metrics for the other jobs of the file.
    #[serde(default = "yes")]
    pub maintenance: bool,
}

/// A comparison of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    Day,
    Week,
}

impl ReportSettings {
    pub fn compares(&self, what: Compare) -> bool {
        self.compare.contains(&what)
    }
}

/// `[[jobs.<name>.sections]]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SectionSettings {
    pub title: String,
    #[serde(default)]
    pub panels: Vec<PanelSettings>,
}

/// `[[jobs.<name>.sections.panels]]`: a stat, a chart, or both.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PanelSettings {
    pub title: String,
    /// One line under the title.
    pub description: Option<String>,
    /// Instant PromQL evaluated at the end of the day (and of the day before, for the change).
    /// Several series become one row each (named by `legend`).
    pub query: Option<String>,
    /// PromQL charted over the day every `step`.
    pub chart: Option<String>,
    /// Series name template, e.g. `{{operation_type}}`.
    pub legend: Option<String>,
    /// `number`, `percent` (ratio 0..1), `seconds`, `per_second` or `bytes`.
    #[serde(default)]
    pub unit: Unit,
    /// Decimals shown (default per unit).
    pub decimals: Option<usize>,
    /// `{ warn = ..., critical = ... }`; warn > critical means higher is better.
    pub thresholds: Option<Thresholds>,
}

pub use super::slo_settings::SloSettings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    sections: Vec<SectionSettings>,
    slos: Vec<SloSettings>,
}

static DEFAULTS: LazyLock<Defaults> =
    LazyLock::new(|| toml::from_str(include_str!("defaults.toml")).expect("defaults.toml is valid"));

fn default_title() -> String {
    "AindusDB daily report".into()
}
/// The default subject (replaced by the language's own form when left as is).
pub(super) fn default_subject() -> String {
    "{title} {date}: {status}".into()
}
fn default_locale() -> String {
    "en".into()
}
fn default_compare() -> Vec<Compare> {
    vec![Compare::Day, Compare::Week]
}
fn default_unusual_tolerance() -> f64 {
    0.1
}
fn yes() -> bool {
    true
}
fn default_out_dir() -> PathBuf {
    PathBuf::from("out")
}
fn default_parallelism() -> usize {
    8
}
fn default_query_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_step() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_top_series() -> usize {
    5
}
fn default_send_attempts() -> u32 {
    3
}
fn default_send_backoff() -> HumanDuration {
    HumanDuration::from_secs(10)
}
/// The built-in sections (also written out in the repository's jobs.toml).
pub fn default_sections() -> Vec<SectionSettings> {
    DEFAULTS.sections.clone()
}
/// The built-in SLOs.
pub fn default_slos() -> Vec<SloSettings> {
    DEFAULTS.slos.clone()
}

/// Refuses control characters (CR, LF, tab, NUL, DEL, C1...) in a value that ends up in an
/// email header or a one-line heading.
fn check_one_line(at: KeyPath, what: &str, text: &str) -> Result<(), SettingsError> {
    match text.char_indices().find(|(_, c)| c.is_control()) {
        Some((offset, c)) => Err(SettingsError::new(
            at,
            format!(
                "the {what} must be one line without control characters (found {:?} at character {}): it goes into the email's headers",
                c,
                text[..offset].chars().count() + 1
            ),
        )),
        None => Ok(()),
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.0.validate()
    }
}

impl ReportSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let root = KeyPath::root();
        if self.to.is_empty() && self.cc.is_empty() {
            return Err(SettingsError::new(
                root.key("to"),
                "a report needs at least one recipient (they are also the To: of the .eml written without [smtp])",
            ));
        }
        // Title and subject become the Subject header, section titles single-line headings:
        // a CR/LF there could forge a header (`\r\nBcc: ...`) or a heading, so control
        // characters are refused here rather than trusted to the encoder.
        check_one_line(root.key("title"), "title", &self.title)?;
        check_one_line(root.key("subject"), "subject", &self.subject)?;
        if let Some(from) = &self.from {
            check_one_line(root.key("from"), "from", from)?;
        }
        for (key, list) in [("to", &self.to), ("cc", &self.cc)] {
            for (i, address) in list.iter().enumerate() {
                check_one_line(root.key(key).index(i), key, address)?;
            }
        }
        for (i, section) in self.sections.iter().enumerate() {
            check_one_line(
                root.key("sections").index(i).key("title"),
                "section title",
                &section.title,
            )?;
        }
        for (key, list) in [("to", &self.to), ("cc", &self.cc)] {
            for (i, address) in list.iter().enumerate() {
                if let Err(error) = address.parse::<lettre::message::Mailbox>() {
                    return Err(SettingsError::new(
                        root.key(key).index(i),
                        format!("{address:?} is not an email address: {error}"),
                    ));
                }
            }
        }
        if let Some(from) = &self.from
            && let Err(error) = from.parse::<lettre::message::Mailbox>()
        {
            return Err(SettingsError::new(
                root.key("from"),
                format!("{from:?} is not an email address: {error}"),
            ));
        }
        if self.parallelism == 0 {
            return Err(SettingsError::new(root.key("parallelism"), "must be at least 1"));
        }
        if Catalogue::get(&self.locale).is_err() {
            return Err(SettingsError::new(
                root.key("locale"),
                format!(
                    "no catalogue for {:?}; one of: {}",
                    self.locale,
                    locale::codes().join(", ")
                ),
            ));
        }
        if !(self.unusual_tolerance.is_finite() && self.unusual_tolerance >= 0.0) {
            return Err(SettingsError::new(
                root.key("unusual_tolerance"),
                "must be a number ≥ 0 (a share of the previous 7 days' range, e.g. 0.1)",
            ));
        }
        if self.step.as_std().as_secs() < 1 {
            return Err(SettingsError::new(root.key("step"), "must be at least 1s"));
        }
        if self.send_attempts == 0 {
            return Err(SettingsError::new(root.key("send_attempts"), "must be at least 1"));
        }
        if self.sections.iter().all(|s| s.panels.is_empty()) && self.slos.is_empty() {
            return Err(SettingsError::new(
                root.key("sections"),
                "a report needs at least one panel or SLO",
            ));
        }
        for (i, section) in self.sections.iter().enumerate() {
            for (j, panel) in section.panels.iter().enumerate() {
                let at = root.key("sections").index(i).key("panels").index(j);
                if panel.query.is_none() && panel.chart.is_none() {
                    return Err(SettingsError::new(at, "a panel needs a `query`, a `chart` or both"));
                }
                if let Some(t) = panel.thresholds
                    && (t.warn == t.critical || !t.warn.is_finite() || !t.critical.is_finite())
                {
                    return Err(SettingsError::new(
                        at.key("thresholds"),
                        "warn and critical must be different numbers (warn > critical: higher is better)",
                    ));
                }
            }
        }
        for (i, slo) in self.slos.iter().enumerate() {
            slo.validate(&root.key("slos").index(i))?;
        }
        if let Some(retention) = self.raw_retention {
            super::slo_settings::check_raw_retention(root.key("raw_retention"), retention)?;
        }
        for (key, list) in [("to", &self.to), ("cc", &self.cc)] {
            for (i, address) in list.iter().enumerate() {
                if address.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(SettingsError::new(
                        root.key(key).index(i),
                        format!("invalid email address {address:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let settings: Settings = toml::from_str("to = ['team@example.com']").unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.sections.len(), 3);
        assert_eq!(settings.slos.len(), 3);
    }

    #[test]
    fn locale_compare_and_tolerance_are_checked() {
        let settings: Settings = toml::from_str("to = ['a@b.c']").unwrap();
        assert_eq!(settings.locale, "en");
        assert!(settings.compares(Compare::Day) && settings.compares(Compare::Week));
        assert!(settings.maintenance);
        let french: Settings = toml::from_str("to = ['a@b.c']\nlocale = 'fr'\ncompare = ['week']").unwrap();
        french.validate().unwrap();
        assert!(!french.compares(Compare::Day));
        let german: Settings = toml::from_str("to = ['a@b.c']\nlocale = 'de'").unwrap();
        let error = german.validate().unwrap_err();
        assert_eq!(error.path.to_string(), "locale");
        assert!(error.message.contains("en, fr"), "{}", error.message);
        assert!(toml::from_str::<Settings>("to = ['a@b.c']\ncompare = ['month']").is_err());
        assert_eq!(settings.period, Period::Day);
        let weekly: Settings = toml::from_str("to = ['a@b.c']\nperiod = 'week'").unwrap();
        assert_eq!(weekly.period, Period::Week);
        assert!(toml::from_str::<Settings>("to = ['a@b.c']\nperiod = 'fortnight'").is_err());
        let negative: Settings = toml::from_str("to = ['a@b.c']\nunusual_tolerance = -1").unwrap();
        assert_eq!(negative.validate().unwrap_err().path.to_string(), "unusual_tolerance");
    }

    #[test]
    fn bad_thresholds_are_located() {
        let settings: Settings = toml::from_str(
            "to=['a@b.c']\n[[sections]]\ntitle='a'\n[[sections.panels]]\ntitle='b'\nquery='up'\nthresholds={warn=1,critical=1}",
        )
        .unwrap();
        let error = settings.validate().unwrap_err();
        assert!(error.message.contains("different"));
    }

    #[test]
    fn recipients_are_required_and_checked() {
        let none: Settings = toml::from_str("").unwrap();
        assert_eq!(none.validate().unwrap_err().path.to_string(), "to");
        let cc_only: Settings = toml::from_str("cc = ['ops@example.com']").unwrap();
        cc_only.validate().unwrap();
        let bad: Settings = toml::from_str("to = ['ops@example.com', 'ops at example']").unwrap();
        let error = bad.validate().unwrap_err();
        assert_eq!(error.path.to_string(), "to[1]");
        assert!(error.message.contains("not an email address"), "{}", error.message);
        let bad_from: Settings = toml::from_str("to = ['a@b.c']\nfrom = 'almanac <nowhere'").unwrap();
        assert_eq!(bad_from.validate().unwrap_err().path.to_string(), "from");
    }

    /// `title = "Daily\r\nBcc: ..."` would otherwise reach the Subject header.
    #[test]
    fn control_characters_in_header_fields_are_refused() {
        for (toml_text, path) in [
            (r#"title = "Daily\r\nBcc: evil@example.com""#, "title"),
            (r#"title = "Daily\nreport""#, "title"),
            (r#"title = "Daily\rreport""#, "title"),
            (r#"title = "tab\there""#, "title"),
            (r#"title = "nul\u0000""#, "title"),
            (r#"title = "del\u007f""#, "title"),
            (r#"title = "c1\u0085next line""#, "title"),
            (r#"subject = "{title}\r\nBcc: evil@example.com""#, "subject"),
            (r#"from = "almanac <a@b.c>\r\nBcc: evil@example.com""#, "from"),
            (
                "[[sections]]\ntitle = \"A\\nB\"\n[[sections.panels]]\ntitle = \"p\"\nquery = \"up\"",
                "sections[0].title",
            ),
        ] {
            let settings: Settings = toml::from_str(&format!("to = ['a@b.c']\n{toml_text}")).unwrap();
            let error = settings.validate().expect_err(&format!("{toml_text} must be refused"));
            assert_eq!(error.path.to_string(), path, "{toml_text}");
            assert!(error.message.contains("control characters"), "{}", error.message);
        }
        for address in ["a@b.c\r\nBcc: evil@example.com", "a@b.c\nBcc: evil@example.com"] {
            let mut settings: Settings = toml::from_str("to = ['a@b.c']").unwrap();
            settings.0.to = vec![address.into()];
            assert_eq!(
                settings.validate().unwrap_err().path.to_string(),
                "to[0]",
                "{address:?}"
            );
        }
    }

    #[test]
    fn one_line_titles_pass_whatever_they_say() {
        let settings: Settings = toml::from_str(
            "to = ['a@b.c']\ntitle = 'Rapport quotidien — 日報 Bcc: evil@example.com <script>'\nsubject = '{title} / {date} / {status} {{x}}'",
        )
        .unwrap();
        settings.validate().unwrap();
    }

    #[test]
    fn the_error_says_what_and_where() {
        let error = check_one_line(KeyPath::root().key("title"), "title", "ab\ncd").unwrap_err();
        assert_eq!(error.path.to_string(), "title");
        assert!(error.message.contains("'\\n' at character 3"), "{}", error.message);
        check_one_line(KeyPath::root().key("title"), "title", "").unwrap();
        check_one_line(KeyPath::root().key("title"), "title", "été ✓ \u{2028}").unwrap();
    }
}

#[cfg(test)]
mod repo_config {
    use super::*;

    /// The repository's jobs.toml spells out the defaults in French (its team's language);
    /// apart from those texts they must not drift apart.
    #[test]
    fn jobs_toml_lists_the_default_panels() {
        let text = include_str!("../../../jobs.toml");
        let value: toml::Value = toml::from_str(text).unwrap();
        let mut table = value["jobs"]["daily-report"].as_table().unwrap().clone();
        for common in [
            "kind",
            "description",
            "schedule",
            "timezone",
            "timeout",
            "retries",
            "backoff",
        ] {
            table.remove(common);
        }
        let settings: Settings = toml::Value::Table(table).try_into().unwrap();
        settings.validate().unwrap();
        let texts_cleared = |mut sections: Vec<SectionSettings>, mut slos: Vec<SloSettings>| {
            for section in &mut sections {
                section.title.clear();
                for panel in &mut section.panels {
                    panel.title.clear();
                    panel.description = None;
                }
            }
            for slo in &mut slos {
                slo.name.clear();
                slo.description = None;
            }
            (sections, slos)
        };
        assert_ne!(
            settings.sections[0].title,
            default_sections()[0].title,
            "jobs.toml is in French"
        );
        assert_eq!(
            texts_cleared(settings.sections.clone(), settings.slos.clone()),
            texts_cleared(default_sections(), default_slos())
        );
    }
}
