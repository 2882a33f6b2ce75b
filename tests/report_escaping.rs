//! Hostile text in a report (issue #13): label values from a real Prometheus and titles from
//! jobs.toml reach the HTML part escaped and the text part verbatim, never as markup or as
//! template syntax; a title can add no header to the email.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use support::{PrivateServer, Workspace, only_file};

/// Label values an exporter may pass through from anyone (paths, user agents, index names).
const HOSTILE: [&str; 5] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "{{x}}",
    "{% raw %}{{ r.title }}{% endraw %}",
    "Tom & Jerry's <b>bold</b>",
];

/// The report day (UTC): one sample every 5 minutes on it and on the day before.
const DAY: (i32, u32, u32) = (2026, 11, 24);

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(DAY.0, DAY.1, DAY.2).unwrap()
}

/// A label value as OpenMetrics writes it: `\`, `"` and newlines escaped.
fn om_escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// OpenMetrics for `almanac_hostile{name=<hostile>}` (value i+1) over the day and the day before,
/// plus any `extra` series as `(labels, value)`.
fn openmetrics(extra: &[(&str, f64)]) -> String {
    let start = Utc.from_utc_datetime(&day().pred_opt().unwrap().and_hms_opt(0, 0, 0).unwrap());
    let times: Vec<i64> = (0..2 * 24 * 12).map(|k| start.timestamp() + 150 + 300 * k).collect();
    let mut out =
        String::from("# HELP almanac_hostile Series with hostile label values.\n# TYPE almanac_hostile gauge\n");
    let mut series: Vec<(String, f64)> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("name=\"{}\"", om_escape(v)), (i + 1) as f64))
        .collect();
    series.extend(extra.iter().map(|(labels, value)| (labels.to_string(), *value)));
    for (labels, value) in series {
        for t in &times {
            writeln!(out, "almanac_hostile{{{labels}}} {value} {t}").unwrap();
        }
    }
    out.push_str("# EOF\n");
    out
}

fn seeded_prometheus(extra: &[(&str, f64)]) -> (PrivateServer, tempfile::TempDir) {
    support::seeded_prometheus(&openmetrics(extra))
}

/// A TOML basic string holding `text` exactly.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A report job `r` writing to `out`, with `job_extra` and `panels` (tables under
/// `[[jobs.r.sections]]`).
fn jobs_toml(prometheus: &str, out: &Path, job_extra: &str, panels: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "20s"

[jobs.r]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "UTC"
retries = 0
out_dir = {out}
to = ["team@example.com"]
cc = ["ops@example.com"]
top_series = 10
slos = []
{job_extra}
{panels}
"#,
        out = toml_string(out.to_str().unwrap()),
    )
}

fn run_report(ws: &Workspace) -> support::Run {
    let date = day();
    let now = format!("{}T08:00:00Z", date.succ_opt().unwrap());
    ws.almanac(&["run", "r", "--date", &date.to_string(), "--now", &now], &[])
}

/// The raw .eml and its decoded text and HTML parts.
struct Email {
    raw: Vec<u8>,
    text: String,
    html: String,
}

fn read_email(out: &Path) -> Email {
    let raw = std::fs::read(only_file(out, "eml")).unwrap();
    let mail = mailparse::parse_mail(&raw).expect("valid MIME");
    let (mut text, mut html) = (String::new(), String::new());
    fn walk(part: &mailparse::ParsedMail, text: &mut String, html: &mut String) {
        match part.ctype.mimetype.as_str() {
            "text/plain" => *text = part.get_body().unwrap(),
            "text/html" => *html = part.get_body().unwrap(),
            _ => {}
        }
        for sub in &part.subparts {
            walk(sub, text, html);
        }
    }
    walk(&mail, &mut text, &mut html);
    assert!(!text.is_empty() && !html.is_empty(), "text and HTML parts");
    Email { raw, text, html }
}

/// Elements and attributes of an HTML document, read the way a browser tokenizes tags (quoted
/// attribute values may hold anything but their quote). Panics on a tag it cannot read.
fn tags(html: &str) -> Vec<(String, Vec<String>)> {
    let bytes = html.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(lt) = html[i..].find('<') {
        i += lt + 1;
        // The only comments are the template's own Outlook wrapper (a fixed-width table for
        // clients that ignore max-width).
        if html[i..].starts_with("!--") {
            let end = i + html[i..].find("-->").expect("unterminated comment") + 3;
            let comment = &html[i - 1..end];
            assert!(comment.starts_with("<!--[if mso]>"), "unexpected comment {comment:?}");
            i = end;
            continue;
        }
        let start = i;
        if bytes.get(i) == Some(&b'/') {
            i += 1;
        }
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'!') {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        assert!(
            !name.trim_start_matches('/').is_empty(),
            "a '<' that is not a tag, i.e. unescaped text: {:?}",
            &html[start.saturating_sub(20)..(start + 40).min(html.len())]
        );
        let mut attributes = Vec::new();
        loop {
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
                i += 1;
            }
            assert!(i < bytes.len(), "unterminated <{name}>");
            if bytes[i] == b'>' {
                i += 1;
                break;
            }
            let end = html[i..]
                .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>')
                .unwrap();
            attributes.push(html[i..i + end].to_ascii_lowercase());
            i += end;
            if bytes[i] == b'=' {
                i += 1;
                match bytes[i] {
                    quote @ (b'"' | b'\'') => {
                        let close = html[i + 1..].find(quote as char).expect("closing quote");
                        i += close + 2;
                    }
                    _ => {
                        i += html[i..].find(|c: char| c.is_ascii_whitespace() || c == '>').unwrap();
                    }
                }
            }
        }
        found.push((name, attributes));
    }
    found
}

/// What the template itself writes: any other element or attribute came from data.
fn assert_only_template_markup(html: &str, what: &str) {
    const ELEMENTS: [&str; 16] = [
        "!doctype", "html", "head", "meta", "title", "body", "table", "tr", "td", "th", "div", "span", "a", "img",
        "br", "code",
    ];
    const ATTRIBUTES: [&str; 15] = [
        "lang",
        "charset",
        "name",
        "content",
        "style",
        "role",
        "width",
        "height",
        "cellpadding",
        "cellspacing",
        "border",
        "align",
        "valign",
        "href",
        "src",
    ];
    for (name, attributes) in tags(html) {
        let bare = name.trim_start_matches('/');
        assert!(ELEMENTS.contains(&bare), "{what}: unexpected element <{name}>");
        if bare == "!doctype" {
            continue;
        }
        for attribute in attributes {
            assert!(
                ATTRIBUTES.contains(&attribute.as_str()) || attribute == "alt" && bare == "img",
                "{what}: unexpected attribute {attribute:?} on <{name}>"
            );
        }
    }
    // A chart <img> points at its attachment, never at a label's `src=x`.
    for src in html.split("<img ").skip(1) {
        assert!(
            src.starts_with("src=\"cid:") || src.starts_with("src=\"r-"),
            "{what}: <img {}",
            &src[..40.min(src.len())]
        );
    }
}

/// HTML text with character references decoded (the few any escaper emits).
fn unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|s| *s < 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16).ok().and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `value` escaped for HTML text or a quoted attribute, with named or numeric references.
fn escape(value: &str, numeric: bool) -> String {
    value
        .chars()
        .map(|c| match (c, numeric) {
            ('&', false) => "&amp;".into(),
            ('<', false) => "&lt;".into(),
            ('>', false) => "&gt;".into(),
            ('"', false) => "&quot;".into(),
            ('\'', false) => "&#39;".into(),
            ('&' | '<' | '>' | '"' | '\'', true) => format!("&#{};", c as u32),
            _ => c.to_string(),
        })
        .collect()
}

/// Shown to the reader (decoded) yet never present raw when it holds markup characters.
fn assert_escaped(html: &str, value: &str, what: &str) {
    assert!(
        unescape(html).contains(value),
        "{what}: {value:?} is not shown in the HTML part"
    );
    if value.contains(['<', '>', '"', '&', '\'']) {
        assert!(!html.contains(value), "{what}: {value:?} is in the HTML part unescaped");
    }
}

fn section(title: &str, panels: &[String]) -> String {
    format!(
        "[[jobs.r.sections]]\ntitle = {}\n{}",
        toml_string(title),
        panels.join("")
    )
}

fn panel(title: &str, description: &str, body: &str) -> String {
    format!(
        "[[jobs.r.sections.panels]]\ntitle = {}\ndescription = {}\n{body}\n",
        toml_string(title),
        toml_string(description)
    )
}

#[test]
fn hostile_label_values_and_titles_are_escaped_in_html_and_verbatim_in_text() {
    let (prometheus, _seed) = seeded_prometheus(&[]);
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let panel_title = "<b onmouseover=alert(2)>Requests</b> {{x}}";
    let description = "\"><script>alert(3)</script> {% if true %}yes{% endif %}";
    let section_title = "<i>Traffic</i> & {{ r.job }}";
    let panels = section(
        section_title,
        &[
            // No legend: each row and legend entry is the series' labels, `name=<value>`.
            panel(
                panel_title,
                description,
                "query = 'almanac_hostile'\nchart = 'almanac_hostile'",
            ),
        ],
    );
    ws.write(
        "jobs.toml",
        &jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), &out, "", &panels),
    );
    let run = run_report(&ws);
    run.expect_code(0);
    let email = read_email(&out);
    let written_html = std::fs::read_to_string(only_file(&out, "html")).unwrap();

    for (html, what) in [(&email.html, "HTML part"), (&written_html, "out/*.html")] {
        assert_only_template_markup(html, what);
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{what}: a <script> element");
        assert!(!lower.contains("<img src=x"), "{what}: a label's <img>");
        assert!(!lower.contains("<b "), "{what}: a title's <b>");
        for value in HOSTILE {
            assert_escaped(html, &format!("name={value}"), what);
        }
        // askama writes numeric references (`&#60;`); `&lt;` would do as well.
        for value in ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>"] {
            let (named, numeric) = (escape(value, false), escape(value, true));
            assert!(
                html.contains(&named) || html.contains(&numeric),
                "{what}: neither {named:?} nor {numeric:?}"
            );
        }
        // Template syntax in data is text: not evaluated, not dropped.
        assert!(html.contains("name={{x}}"), "{what}");
        assert!(html.contains("{% raw %}{{ r.title }}{% endraw %}"), "{what}");
        assert_escaped(html, panel_title, what);
        assert_escaped(html, description, what);
        assert_escaped(html, section_title, what);
        assert!(html.contains("{% if true %}yes{% endif %}"), "{what}");
    }
    // Rows (stat), legend entries and the chart's alt text all carry the values.
    let shown = unescape(&email.html);
    for value in HOSTILE {
        let count = shown.matches(&format!("name={value}")).count();
        assert!(count >= 3, "name={value} shown {count} times (row, legend, alt)");
    }

    // The text part is plain text: the values exactly as Prometheus has them, nothing escaped.
    for value in HOSTILE {
        assert!(
            email.text.contains(&format!("name={value}: ")),
            "text part lacks the row of {value:?}\n{}",
            email.text
        );
    }
    for value in [panel_title, section_title] {
        assert!(email.text.contains(value), "text part lacks {value:?}\n{}", email.text);
    }
    for entity in [
        "&lt;", "&gt;", "&amp;", "&quot;", "&#34;", "&#38;", "&#39;", "&#60;", "&#62;",
    ] {
        assert!(
            !email.text.contains(entity),
            "text part is HTML-escaped ({entity})\n{}",
            email.text
        );
    }
    // The values live in the body only: no header of the .eml carries them.
    let raw = String::from_utf8_lossy(&email.raw);
    let head = raw.split("\r\n\r\n").next().unwrap();
    assert!(!head.contains("alert("), "{head}");
}

/// A legend template fills in label values once: a value that looks like a placeholder is
/// shown as written, not removed and not filled from another label.
#[test]
fn legend_templates_show_label_values_literally() {
    let (prometheus, _seed) = seeded_prometheus(&[(r#"name="{{token}}",token="s3cr3t-token""#, 10.0)]);
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let panels = section(
        "Legends",
        &[panel(
            "By name",
            "",
            "query = 'almanac_hostile'\nchart = 'almanac_hostile'\nlegend = '{{name}}'",
        )],
    );
    ws.write(
        "jobs.toml",
        &jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), &out, "", &panels),
    );
    run_report(&ws).expect_code(0);
    let email = read_email(&out);
    assert_only_template_markup(&email.html, "HTML part");
    for value in HOSTILE.iter().chain(&["{{token}}"]) {
        assert!(
            email.text.contains(&format!("\n  {value}: ")),
            "text part lacks the row {value:?}\n{}",
            email.text
        );
        assert_escaped(&email.html, value, "HTML part");
    }
    assert!(
        !email.text.contains("s3cr3t-token"),
        "a label value was evaluated as a legend template\n{}",
        email.text
    );
}

/// Defence in depth: a one-line title may say anything (non-ASCII, `Bcc:`, `\r\n` spelt out);
/// the .eml has one Subject, decoding to exactly that, and only the configured recipients.
#[test]
fn a_title_that_looks_like_a_header_stays_in_the_subject() {
    let (prometheus, _seed) = seeded_prometheus(&[]);
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let title = "Rapport journalier — été ✓ 日報 Bcc: evil@example.com\\r\\nTo: evil2@example.com <script> \
                 and a long tail so that the encoded header has to be folded over several lines";
    let job_extra = format!(
        "title = {}\nsubject = \"{{title}} Cc: evil3@example.com {{date}} {{status}}\"",
        toml_string(title)
    );
    let panels = section("S", &[panel("P", "", "query = 'count(almanac_hostile)'")]);
    ws.write(
        "jobs.toml",
        &jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), &out, &job_extra, &panels),
    );
    run_report(&ws).expect_code(0);
    let email = read_email(&out);
    let raw = String::from_utf8(email.raw.clone()).expect("the .eml is ASCII/UTF-8");
    let (head, _) = raw.split_once("\r\n\r\n").expect("headers end");
    assert!(head.is_ascii(), "headers are 7-bit (RFC 2047 encoded)\n{head}");
    let mail = mailparse::parse_mail(&email.raw).unwrap();
    let values = |name: &str| -> Vec<String> {
        mail.headers
            .iter()
            .filter(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .collect()
    };
    let subjects = values("Subject");
    assert_eq!(subjects.len(), 1, "{head}");
    assert_eq!(
        subjects[0],
        format!("{title} Cc: evil3@example.com {} OK", day()),
        "the subject decodes to exactly the title\n{head}"
    );
    assert!(values("Bcc").is_empty(), "{head}");
    assert_eq!(values("To"), ["team@example.com"], "{head}");
    assert_eq!(values("Cc"), ["ops@example.com"], "{head}");
    // Every header line is a known header or the folded continuation of one.
    let names: Vec<String> = mail.headers.iter().map(|h| h.get_key().to_ascii_lowercase()).collect();
    for name in &names {
        assert!(
            [
                "from",
                "to",
                "cc",
                "subject",
                "date",
                "message-id",
                "mime-version",
                "content-type",
                "content-transfer-encoding",
                "x-almanac-run-id",
            ]
            .contains(&name.as_str()),
            "unexpected header {name:?}\n{head}"
        );
    }
    for line in head.split("\r\n") {
        assert!(
            line.starts_with([' ', '\t'])
                || line
                    .split_once(':')
                    .is_some_and(|(n, _)| names.contains(&n.to_ascii_lowercase())),
            "stray header line {line:?}\n{head}"
        );
        assert!(!line.to_ascii_lowercase().starts_with("bcc"), "{head}");
    }
    // In the body the title is text too.
    assert!(email.text.contains(title), "{}", email.text);
    assert_escaped(&email.html, title, "HTML part");
}
