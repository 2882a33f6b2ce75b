//! The same day from a real Prometheus in French and in English: French dates and numbers, no
//! catalogue text of the other language in either, and HTML that needs no <style>.

mod support;

use std::path::Path;

use almanac::jobs::report::locale::{Catalogue, placeholders};
use almanac::jobs::report::synth;
use chrono::NaiveDate;
use support::{Workspace, only_file};

const TZ: &str = "Europe/Paris";

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

/// Panels named in French (so no configured name looks like an English catalogue text).
const PANELS: &str = r#"
[[jobs.rapport.sections]]
title = "Disponibilité"

[[jobs.rapport.sections.panels]]
title = "Taux d'erreur"
description = "Part des requêtes en erreur"
query = '(sum(increase(aindusdb_requests_total{job="aindusdb-core",status="error"}[$__range])) or vector(0)) / sum(increase(aindusdb_requests_total{job="aindusdb-core"}[$__range]))'
chart = '(sum(rate(aindusdb_requests_total{job="aindusdb-core",status="error"}[$__interval])) or vector(0)) / sum(rate(aindusdb_requests_total{job="aindusdb-core"}[$__interval]))'
unit = "percent"
thresholds = { warn = 0.001, critical = 0.01 }

[[jobs.rapport.sections.panels]]
title = "Débit"
query = 'sum(increase(aindusdb_requests_total{job="aindusdb-core"}[$__range])) / $__range_s'
unit = "per_second"

[[jobs.rapport.sections]]
title = "Usage"

[[jobs.rapport.sections.panels]]
title = "Opérations vectorielles"
query = 'sum by (operation_type) (increase(aindusdb_vector_operations_total[$__range]))'
legend = "{{operation_type}}"
decimals = 0

[[jobs.rapport.sections.panels]]
title = "Mémoire"
query = 'sum by (component) (avg_over_time(aindusdb_memory_usage_bytes[$__range]))'
chart = 'sum by (component) (aindusdb_memory_usage_bytes)'
legend = "{{component}}"
unit = "bytes"

[[jobs.rapport.sections.panels]]
title = "Cassé"
query = 'absent_series_for_sure'

[[jobs.rapport.slos]]
name = "Latence"
objective = 0.95
window = "30d"
sli = 'sum(increase(aindusdb_request_duration_seconds_bucket{job="aindusdb-core",le="0.5"}[$__range])) / sum(increase(aindusdb_request_duration_seconds_count{job="aindusdb-core"}[$__range]))'
"#;

/// (subject, text, html) of the report for the day in `locale`.
fn report(prometheus: &str, locale: &str) -> (String, String, String) {
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let config = format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "20s"

[jobs.rapport]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "{TZ}"
retries = 0
out_dir = "{out}"
to = ["equipe@example.com"]
title = "Rapport AindusDB"
locale = "{locale}"
{PANELS}

[jobs.nettoyage]
kind = "noop"
schedule = "0 0 2 * * *"
timezone = "{TZ}"
"#,
        out = out.display()
    );
    ws.write("jobs.toml", &config);
    let now = format!("{}T08:00:00Z", date().succ_opt().unwrap());
    let run = ws.almanac(&["run", "rapport", "--date", &date().to_string(), "--now", &now], &[]);
    // The panel without series makes the run partial.
    run.expect_code(1);
    read(&only_file(&out, "eml"))
}

fn read(eml: &Path) -> (String, String, String) {
    let raw = std::fs::read(eml).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    let subject = mail
        .headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case("Subject"))
        .unwrap()
        .get_value();
    let text = mail.subparts[0].get_body().unwrap();
    let html = mail.subparts[1].subparts[0].get_body().unwrap();
    (subject, text, html)
}

/// The text a reader sees in an HTML document: text outside tags, `alt` texts, entities decoded.
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('>').unwrap() + open;
        if let Some(alt) = rest[open..close].split("alt=\"").nth(1) {
            out.push(' ');
            out.push_str(alt.split('"').next().unwrap());
            out.push(' ');
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    let mut decoded = String::new();
    let mut rest = out.as_str();
    while let Some(amp) = rest.find('&') {
        decoded.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').unwrap() + amp;
        let entity = &rest[amp + 1..semi];
        decoded.push(match entity {
            "nbsp" => '\u{a0}',
            "middot" => '·',
            _ => entity
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32)
                .unwrap_or_else(|| panic!("entity &{entity};")),
        });
        rest = &rest[semi + 1..];
    }
    decoded.push_str(rest);
    decoded
}

/// Whether `text` holds `words` as whole words.
fn has_words(text: &str, words: &str) -> bool {
    text.match_indices(words).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + words.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Texts of `other`'s catalogue (4 letters or more, placeholders aside) that `this` does not
/// share, with the month and weekday names: none may show in a report in `this` language.
fn foreign(other: &Catalogue, this: &Catalogue) -> Vec<String> {
    let mut found = Vec::new();
    for (key, text) in &other.messages {
        let own = this.t(key.strip_suffix(".plural").unwrap_or(key));
        let mut rest = text.clone();
        for placeholder in placeholders(text) {
            rest = rest.replace(&format!("{{{placeholder}}}"), "\u{0}");
        }
        for fragment in rest.split('\u{0}') {
            let fragment = fragment.trim_matches(|c: char| !c.is_alphanumeric());
            if fragment.chars().filter(|c| c.is_alphabetic()).count() >= 4 && !own.contains(fragment) {
                found.push(fragment.to_string());
            }
        }
    }
    found.extend(other.date.weekdays.iter().chain(&other.date.months).cloned());
    found
}

#[test]
fn the_same_day_in_french_and_english_each_without_a_word_of_the_other() {
    let seed = synth::openmetrics(date(), TZ.parse().unwrap());
    let (prometheus, _seed) = support::seeded_prometheus(&seed);
    let url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL");
    let en = Catalogue::english();
    let fr = Catalogue::get("fr").unwrap();
    let (fr_subject, fr_text, fr_html) = report(url, "fr");
    let (en_subject, en_text, en_html) = report(url, "en");

    assert_eq!(fr_subject, "Rapport AindusDB du 24/11/2026 : AVERTISSEMENT (incomplet)");
    assert_eq!(en_subject, "Rapport AindusDB 2026-11-24: WARNING (incomplete)");
    let (nnbsp, nbsp) = ('\u{202f}', '\u{a0}');
    for expected in [
        "Rapport AindusDB — mardi 24 novembre 2026".to_string(),
        "État : AVERTISSEMENT (incomplet)".into(),
        format!("0,50{nnbsp}%  (+0,10{nbsp}pt (↑ 25,0{nnbsp}%) par rapport à la veille)"),
        format!("mardi dernier : 0,40{nnbsp}% · médiane sur 7 jours : 0,50{nnbsp}%"),
        "100,00/s".into(),
        format!("search: 1{nnbsp}036{nnbsp}800"),
        format!("api: 2,00{nbsp}Gio"),
        "pas de données : la requête n'a renvoyé aucune série".into(),
        "== Objectifs de niveau de service ==".into(),
        format!("Latence (95,0{nnbsp}% sur 30{nbsp}j)"),
        "Prometheus ne contient aucune métrique d'exécution d'almanac".into(),
        "Généré le 25/11/2026 09:00:00 CET par almanac (tâche rapport".into(),
    ] {
        assert!(fr_text.contains(&expected), "{expected:?} not in\n{fr_text}");
    }
    let shown_fr = visible(&fr_html);
    assert!(
        shown_fr.contains("Graphique : Taux d'erreur le 24/11/2026"),
        "{shown_fr}"
    );
    assert!(
        shown_fr.contains("zone ombrée"),
        "the week's band is drawn and explained"
    );
    let shown_en = visible(&en_html);
    assert!(shown_en.contains("+0.10 pt (↑ 25.0 %)"));
    assert!(en_text.contains("api: 2.00 GiB"), "{en_text}");

    // The query links are PromQL (`avg_over_time`), not prose.
    let prose = |text: &str| {
        text.split_whitespace()
            .filter(|w| !w.starts_with("http://"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (text, shown, other, this) in [(&fr_text, &shown_fr, en, fr), (&en_text, &shown_en, fr, en)] {
        let (text, shown) = (prose(text), prose(shown));
        for fragment in foreign(other, this) {
            for (part, body) in [("text", &text), ("HTML", &shown)] {
                assert!(
                    !has_words(body, &fragment),
                    "{} {part} part shows {fragment:?}\n{body}",
                    this.lang
                );
            }
        }
    }

    for (html, lang) in [(&fr_html, "fr"), (&en_html, "en")] {
        assert!(html.contains(&format!("<html lang=\"{lang}\">")));
        let lower = html.to_ascii_lowercase();
        for needs_a_stylesheet in ["<style", "<link", " class=", " id=", "@media", "display:flex", "float:"] {
            assert!(!lower.contains(needs_a_stylesheet), "{lang}: {needs_a_stylesheet:?}");
        }
    }
}
