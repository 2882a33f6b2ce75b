//! The report's languages: one message catalogue per locale (`locales/<code>.toml`, plain TOML
//! embedded in the binary), looked up by key, with placeholders, plurals and dates.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// The catalogues shipped in the binary: `(code, file)`. Another language is its file in
/// `locales/` and one line here.
const SHIPPED: &[(&str, &str)] = &[
    ("en", include_str!("locales/en.toml")),
    ("fr", include_str!("locales/fr.toml")),
];

/// The reference catalogue: every other one must have all of its keys.
pub const REFERENCE: &str = "en";

/// Why a catalogue cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue {code:?} is not valid TOML: {source}")]
    Parse {
        code: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("catalogue {code:?} lacks {key:?} (every key of {REFERENCE}.toml is required)")]
    Missing { code: String, key: String },
    #[error("catalogue {code:?} has {key:?}, which {REFERENCE}.toml does not know")]
    Unknown { code: String, key: String },
    #[error("catalogue {code:?}: {key:?} uses {{{placeholder}}}, which {REFERENCE}.toml's text does not")]
    Placeholder {
        code: String,
        key: String,
        placeholder: String,
    },
    #[error("no catalogue for locale {0:?}")]
    NoSuchLocale(String),
}

/// How numbers are written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NumberStyle {
    pub decimal: String,
    /// Thousands separator.
    pub group: String,
}

/// Names and patterns of dates.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DateStyle {
    /// Monday first.
    pub weekdays: [String; 7],
    pub months: [String; 12],
    /// `{weekday} {day} {month} {year}`.
    pub long: String,
    /// `{yyyy}`, `{mm}`, `{dd}`.
    pub short: String,
    /// The first of a month in `long` (`1er` in French).
    pub first_day: String,
}

/// Byte units from bytes to TiB and what separates them from the number.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ByteStyle {
    pub units: [String; 5],
    pub space: String,
}

/// One locale's catalogue.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The HTML `lang`.
    pub lang: String,
    pub number: NumberStyle,
    pub date: DateStyle,
    pub bytes: ByteStyle,
    pub messages: BTreeMap<String, String>,
}

static CATALOGUES: LazyLock<BTreeMap<&'static str, Catalogue>> = LazyLock::new(|| {
    // The shipped files are checked by a unit test; a broken one cannot reach a release.
    let reference = Catalogue::parse(REFERENCE, SHIPPED[0].1, None).expect("locales/en.toml is valid");
    SHIPPED
        .iter()
        .map(|(code, text)| {
            let catalogue = if *code == REFERENCE {
                reference.clone()
            } else {
                Catalogue::parse(code, text, Some(&reference)).unwrap_or_else(|e| panic!("{e}"))
            };
            (*code, catalogue)
        })
        .collect()
});

/// The codes of the shipped catalogues.
pub fn codes() -> Vec<&'static str> {
    SHIPPED.iter().map(|(code, _)| *code).collect()
}

/// The placeholders (`{name}`) of a text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        found.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    found
}

/// `text` with each `{name}` replaced by its value; unknown placeholders stay as they are.
/// One pass: a value is never read again as a placeholder.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            rest = &rest[open..];
            break;
        };
        let name = &rest[open + 1..open + close];
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

impl Catalogue {
    /// Parses a catalogue; with a `reference`, checks it has exactly the reference's keys
    /// (plural `.plural` forms aside) and no placeholder the reference's text lacks.
    pub fn parse(code: &str, text: &str, reference: Option<&Catalogue>) -> Result<Self, CatalogueError> {
        let catalogue: Catalogue = toml::from_str(text).map_err(|source| CatalogueError::Parse {
            code: code.to_string(),
            source,
        })?;
        if let Some(reference) = reference {
            catalogue.check_against(code, reference)?;
        }
        Ok(catalogue)
    }

    fn check_against(&self, code: &str, reference: &Catalogue) -> Result<(), CatalogueError> {
        let plural_base = |key: &str| key.strip_suffix(".plural").map(str::to_string);
        for key in reference.messages.keys().filter(|k| !k.ends_with(".plural")) {
            if !self.messages.contains_key(key) {
                return Err(CatalogueError::Missing {
                    code: code.into(),
                    key: key.clone(),
                });
            }
        }
        for (key, text) in &self.messages {
            let base = plural_base(key).unwrap_or_else(|| key.clone());
            let Some(known) = reference.messages.get(&base) else {
                return Err(CatalogueError::Unknown {
                    code: code.into(),
                    key: key.clone(),
                });
            };
            let allowed = placeholders(known);
            if let Some(extra) = placeholders(text).into_iter().find(|p| !allowed.contains(p)) {
                return Err(CatalogueError::Placeholder {
                    code: code.into(),
                    key: key.clone(),
                    placeholder: extra.to_string(),
                });
            }
        }
        Ok(())
    }

    /// A shipped catalogue.
    pub fn get(code: &str) -> Result<&'static Catalogue, CatalogueError> {
        CATALOGUES
            .get(code)
            .ok_or_else(|| CatalogueError::NoSuchLocale(code.to_string()))
    }

    /// The catalogue of a job's `locale` (checked when the configuration was loaded; English
    /// if it is not shipped).
    pub fn of(code: &str) -> &'static Catalogue {
        Self::get(code).unwrap_or_else(|_| Self::english())
    }

    /// The English catalogue (logs, tests, and the default).
    pub fn english() -> &'static Catalogue {
        &CATALOGUES[REFERENCE]
    }

    /// The text of `key`; the key itself if the catalogue lacks it (a unit test checks that
    /// every key the code and templates use exists).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages.get(key).map_or(key, String::as_str)
    }

    /// The text of `key` with its placeholders filled.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        fill(self.t(key), values)
    }

    /// `key` for a count `n` (its `.plural` form for 2 and more, when there is one), `{n}`
    /// filled with `n`.
    pub fn count(&self, key: &str, n: usize) -> String {
        let plural = format!("{key}.plural");
        let text = match self.messages.get(&plural) {
            Some(text) if n >= 2 => text.as_str(),
            _ => self.t(key),
        };
        fill(text, &[("n", &n.to_string())])
    }

    /// The weekday's name, Monday first.
    pub fn weekday(&self, date: NaiveDate) -> &str {
        &self.date.weekdays[date.weekday().num_days_from_monday() as usize]
    }

    /// `Tuesday 24 November 2026`, `mardi 24 novembre 2026`, `mardi 1er décembre 2026`.
    pub fn long_date(&self, date: NaiveDate) -> String {
        let day = if date.day() == 1 {
            self.date.first_day.clone()
        } else {
            date.day().to_string()
        };
        fill(
            &self.date.long,
            &[
                ("weekday", self.weekday(date)),
                ("day", &day),
                ("month", &self.date.months[date.month0() as usize]),
                ("year", &date.year().to_string()),
            ],
        )
    }

    /// `2026-11-24`, `24/11/2026`.
    pub fn short_date(&self, date: NaiveDate) -> String {
        fill(
            &self.date.short,
            &[
                ("yyyy", &format!("{:04}", date.year())),
                ("mm", &format!("{:02}", date.month())),
                ("dd", &format!("{:02}", date.day())),
            ],
        )
    }

    /// A date-time in `tz`: `2026-11-25 07:00:00 CET`.
    pub fn datetime<Z: chrono::TimeZone>(&self, at: chrono::DateTime<Z>) -> String
    where
        Z::Offset: std::fmt::Display,
    {
        self.fill(
            "datetime",
            &[
                ("date", &self.short_date(at.date_naive())),
                ("time", &at.format("%H:%M:%S").to_string()),
                ("zone", &at.format("%Z").to_string()),
            ],
        )
    }

    /// A duration in whole units: `30d` / `30 j`, `24h`, `90m`, `45s`.
    pub fn duration(&self, seconds: u64) -> String {
        let (key, n) = match seconds {
            s if s >= 86_400 && s % 86_400 == 0 => ("duration.days", s / 86_400),
            s if s >= 3_600 && s % 3_600 == 0 => ("duration.hours", s / 3_600),
            s if s >= 60 && s % 60 == 0 => ("duration.minutes", s / 60),
            s => ("duration.seconds", s),
        };
        self.fill(key, &[("n", &n.to_string())])
    }

    /// A copy whose every text is wrapped in `open`…`close` (placeholders kept): rendering
    /// with it shows which text of a report came from the catalogue and which did not.
    pub fn marked(&self, open: &str, close: &str) -> Catalogue {
        let wrap = |text: &str| format!("{open}{text}{close}");
        let mut marked = self.clone();
        for text in marked.messages.values_mut() {
            *text = wrap(text);
        }
        for name in marked.date.weekdays.iter_mut().chain(marked.date.months.iter_mut()) {
            *name = wrap(name);
        }
        marked.date.long = wrap(&marked.date.long);
        marked.date.short = wrap(&marked.date.short);
        for unit in marked.bytes.units.iter_mut() {
            *unit = wrap(unit);
        }
        marked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn every_shipped_catalogue_parses_and_has_every_key() {
        let reference = Catalogue::parse(REFERENCE, SHIPPED[0].1, None).unwrap();
        for (code, text) in SHIPPED {
            let catalogue = Catalogue::parse(code, text, Some(&reference)).unwrap();
            assert_eq!(catalogue.lang, *code);
            assert!(catalogue.messages.values().all(|t| !t.trim().is_empty()), "{code}");
        }
        assert_eq!(codes(), ["en", "fr"]);
        assert!(matches!(Catalogue::get("de"), Err(CatalogueError::NoSuchLocale(_))));
    }

    #[test]
    fn a_catalogue_missing_a_key_or_with_a_stray_one_is_refused() {
        let reference = Catalogue::english();
        let mut missing = toml::Value::try_from(reference).unwrap();
        missing["messages"].as_table_mut().unwrap().remove("slo.heading");
        let error = Catalogue::parse("xx", &toml::to_string(&missing).unwrap(), Some(reference)).unwrap_err();
        assert!(
            matches!(&error, CatalogueError::Missing { key, .. } if key == "slo.heading"),
            "{error}"
        );
        let mut stray = reference.clone();
        stray.messages.insert("slo.headline".into(), "x".into());
        let error = Catalogue::parse("xx", &toml::to_string(&stray).unwrap(), Some(reference)).unwrap_err();
        assert!(matches!(error, CatalogueError::Unknown { .. }), "{error}");
        let mut placeholder = reference.clone();
        placeholder.messages.insert("row.other".into(), "{count} more".into());
        let error = Catalogue::parse("xx", &toml::to_string(&placeholder).unwrap(), Some(reference)).unwrap_err();
        assert!(error.to_string().contains("{count}"), "{error}");
    }

    #[test]
    fn placeholders_fill_once_and_plurals_follow_the_count() {
        assert_eq!(fill("{a} and {b} {c}", &[("a", "{b}"), ("b", "2")]), "{b} and 2 {c}");
        assert_eq!(fill("unclosed {a", &[("a", "x")]), "unclosed {a");
        assert_eq!(placeholders("{n} of {total}"), ["n", "total"]);
        let fr = Catalogue::get("fr").unwrap();
        assert_eq!(fr.count("summary.warning", 0), "0 avertissement");
        assert_eq!(fr.count("summary.warning", 1), "1 avertissement");
        assert_eq!(fr.count("summary.warning", 2), "2 avertissements");
        let en = Catalogue::english();
        assert_eq!(
            en.count("summary.warning", 2),
            "2 warning",
            "no plural form: the same text"
        );
        assert_eq!(en.t("no.such.key"), "no.such.key");
    }

    #[test]
    fn dates_in_each_language() {
        let en = Catalogue::english();
        let fr = Catalogue::get("fr").unwrap();
        assert_eq!(en.long_date(d("2026-11-24")), "Tuesday 24 November 2026");
        assert_eq!(fr.long_date(d("2026-11-24")), "mardi 24 novembre 2026");
        assert_eq!(fr.long_date(d("2026-12-01")), "mardi 1er décembre 2026");
        assert_eq!(en.long_date(d("2026-12-01")), "Tuesday 1 December 2026");
        assert_eq!(en.short_date(d("2026-03-09")), "2026-03-09");
        assert_eq!(fr.short_date(d("2026-03-09")), "09/03/2026");
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T06:00:00Z").unwrap();
        let paris = at.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(
            en.datetime(at.with_timezone(&chrono_tz::UTC)),
            "2026-11-25 06:00:00 UTC"
        );
        assert_eq!(fr.datetime(paris), "25/11/2026 07:00:00 CET");
        assert_eq!(en.duration(30 * 86_400), "30d");
        assert_eq!(fr.duration(30 * 86_400), "30\u{a0}j");
        assert_eq!(en.duration(36 * 3_600), "36h");
        assert_eq!(en.duration(90), "90s");
    }

    #[test]
    fn a_marked_copy_wraps_every_text() {
        let marked = Catalogue::english().marked("⟦", "⟧");
        assert_eq!(marked.t("slo.heading"), "⟦Service level objectives⟧");
        assert_eq!(marked.long_date(d("2026-11-24")), "⟦⟦Tuesday⟧ 24 ⟦November⟧ 2026⟧");
    }
}
