//! The report job end to end: a private Prometheus seeded (promtool) with synthetic metrics
//! whose true values are known, the real binary, the real SMTP server and its Maildirs.

mod support;

use std::path::Path;

use almanac::jobs::report::synth;
use chrono::NaiveDate;
use support::{PrivateServer, Workspace, harness_env, only_file};

const TZ: &str = "Europe/Paris";

/// A private Prometheus holding the synthetic day `date` and the day before.
fn seeded_prometheus(date: NaiveDate) -> (PrivateServer, tempfile::TempDir) {
    support::seeded_prometheus(&synth::openmetrics(date, TZ.parse().unwrap()))
}

fn jobs_toml(prometheus: &str, extra_sections: &str, job_extra: &str, out: &Path) -> String {
    format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "20s"
{extra_sections}

[jobs.daily-report]
kind = "report"
schedule = "0 0 7 * * *"
timezone = "{TZ}"
retries = 0
out_dir = "{out}"
to = ["team@example.com"]
send_backoff = "1s"
{job_extra}
"#,
        out = out.display()
    )
}

fn run_day(ws: &Workspace, date: NaiveDate) -> support::Run {
    let now = format!("{}T08:00:00Z", date.succ_opt().unwrap());
    ws.almanac(
        &["run", "daily-report", "--date", &date.to_string(), "--now", &now],
        &[],
    )
}

/// The decoded parts of an email: (subject, text, html, images by content id, headers).
struct Parsed {
    subject: String,
    message_id: String,
    text: String,
    html: String,
    images: Vec<(String, Vec<u8>)>,
    content_type: String,
}

fn parse(raw: &[u8]) -> Parsed {
    let mail = mailparse::parse_mail(raw).expect("valid MIME");
    let header = |name: &str| {
        mail.headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    let mut parsed = Parsed {
        subject: header("Subject"),
        message_id: header("Message-ID"),
        text: String::new(),
        html: String::new(),
        images: Vec::new(),
        content_type: mail.ctype.mimetype.clone(),
    };
    fn walk(part: &mailparse::ParsedMail, out: &mut Parsed) {
        match part.ctype.mimetype.as_str() {
            "text/plain" => out.text = part.get_body().unwrap(),
            "text/html" => out.html = part.get_body().unwrap(),
            "image/png" => {
                let cid = part
                    .headers
                    .iter()
                    .find(|h| h.get_key().eq_ignore_ascii_case("Content-ID"))
                    .map(|h| h.get_value())
                    .unwrap_or_default();
                out.images
                    .push((cid.trim_matches(['<', '>']).to_string(), part.get_body_raw().unwrap()));
            }
            _ => {}
        }
        for sub in &part.subparts {
            walk(sub, out);
        }
    }
    walk(&mail, &mut parsed);
    // multipart/alternative(text, multipart/related(html, images))
    assert_eq!(mail.subparts.len(), 2, "alternative has text + related");
    assert_eq!(mail.subparts[0].ctype.mimetype, "text/plain");
    assert_eq!(mail.subparts[1].ctype.mimetype, "multipart/related");
    parsed
}

/// Every `cid:` in the HTML has its part, and every PNG decodes at its declared size.
fn check_images(parsed: &Parsed) {
    let cids: Vec<&str> = parsed
        .html
        .split("cid:")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(!cids.is_empty(), "the report has charts");
    for cid in &cids {
        let (_, png) = parsed
            .images
            .iter()
            .find(|(id, _)| id == cid)
            .unwrap_or_else(|| panic!("no image part for cid:{cid}"));
        let decoder = png::Decoder::new(std::io::Cursor::new(png.clone()));
        let reader = decoder.read_info().expect("PNG decodes");
        let info = reader.info();
        assert_eq!((info.width, info.height), (1200, 400), "{cid}");
    }
    assert_eq!(cids.len(), parsed.images.len(), "no unreferenced images");
}

fn expected(truth: &synth::Truth) -> Vec<String> {
    vec![
        format!("{:.2} %", truth.uptime * 100.0),
        format!("{:.2} %", truth.error_ratio * 100.0),
        format!("{:.2} %", (1.0 - truth.error_ratio) * 100.0),
        format!("{:.2}/s", truth.requests_per_second),
        format!("{:.1} ms", truth.p50 * 1000.0),
        format!("{:.1} ms", truth.p95 * 1000.0),
        format!("{:.2} s", truth.p99),
        format!("{:.1} ms", truth.vector_search_p95 * 1000.0),
        format!("{:.2} s", truth.veritas_p90),
        format!("{:.3}", truth.mean_confidence),
        format!("{:.1}", truth.mean_connections),
        // SLOs: 95 % of requests under 500 ms, 90 % of proofs under 2 s.
        format!("{:.3} %", truth.under_500ms * 100.0),
        format!("{:.3} %", truth.proofs_under_2s * 100.0),
        // Changes against the day before.
        format!(
            "↑ {:.1} %",
            (truth.requests_per_second / truth.prev_requests_per_second - 1.0) * 100.0
        ),
        format!("↑ {:.1} %", (truth.error_ratio / truth.prev_error_ratio - 1.0) * 100.0),
    ]
}

#[test]
fn report_numbers_match_known_truth_in_html_and_text() {
    let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let (prometheus, _seed) = seeded_prometheus(date);
    let ws = Workspace::new();
    let out = ws.path().join("out");
    ws.write(
        "jobs.toml",
        &jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), "", "", &out),
    );
    let run = run_day(&ws, date);
    run.expect_code(0);
    let eml = only_file(&out, "eml");
    assert!(only_file(&out, "html").exists());
    let parsed = parse(&std::fs::read(&eml).unwrap());
    assert_eq!(parsed.content_type, "multipart/alternative");
    let truth = synth::truth(date, TZ.parse().unwrap());
    for value in expected(&truth) {
        assert!(
            parsed.text.contains(&value),
            "text part lacks {value:?}\n{}",
            parsed.text
        );
        assert!(parsed.html.contains(&value), "html part lacks {value:?}");
    }
    // Uptime 99.93 % is below its 99.95 % warning threshold: the subject says so.
    assert!(parsed.subject.contains("2026-11-24"), "{}", parsed.subject);
    assert!(parsed.subject.contains("WARNING"), "{}", parsed.subject);
    assert!(
        parsed.message_id.starts_with("<report.daily-report.2026-11-24."),
        "{}",
        parsed.message_id
    );
    assert!(parsed.html.contains("/graph?g0.expr="), "links to the queries");
    assert!(parsed.html.contains("alt=\"Chart: "), "charts have alt texts");
    check_images(&parsed);
    // The .html in out/ shows its images from the PNG files beside it.
    let html = std::fs::read_to_string(only_file(&out, "html")).unwrap();
    assert!(!html.contains("cid:"));
}

#[test]
fn dst_day_of_25_hours_uses_its_real_length() {
    let date = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
    let (prometheus, _seed) = seeded_prometheus(date);
    let ws = Workspace::new();
    let out = ws.path().join("out");
    ws.write(
        "jobs.toml",
        &jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), "", "", &out),
    );
    run_day(&ws, date).expect_code(0);
    let parsed = parse(&std::fs::read(only_file(&out, "eml")).unwrap());
    let truth = synth::truth(date, TZ.parse().unwrap());
    assert_eq!(truth.day_seconds, 25 * 3600);
    // With a 24 h range the uptime would count 1440 of 1500 samples and differ.
    let uptime = format!("{:.3} %", truth.uptime * 100.0);
    assert!(parsed.text.contains("(25 h)"), "{}", parsed.text);
    assert!(
        parsed.text.contains(&format!("{:.2} %", truth.uptime * 100.0)),
        "{uptime}\n{}",
        parsed.text
    );
    assert!(parsed.text.contains(&format!("{:.2}/s", truth.requests_per_second)));
}

fn maildir_message(maildir: &str, recipient: &str) -> Option<Vec<u8>> {
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(Path::new(maildir).join(sub)) else {
            continue;
        };
        for entry in entries {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            if String::from_utf8_lossy(&bytes).contains(recipient) {
                return Some(bytes);
            }
        }
    }
    None
}

fn smtp_section(addr: &str, tls: &str, auth: bool) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let auth = if auth {
        format!(
            "username = \"{}\"\npassword = \"{}\"\nca_file = \"{}\"\n",
            harness_env("ALMANAC_TEST_SMTP_USER"),
            harness_env("ALMANAC_TEST_SMTP_PASSWORD"),
            harness_env("ALMANAC_TEST_SMTP_CA")
        )
    } else {
        String::new()
    };
    format!(
        "\n[smtp]\nhost = \"{host}\"\nport = {port}\ntls = \"{tls}\"\nfrom = \"Monitoring <monitoring@example.com>\"\n{auth}"
    )
}

#[test]
fn sends_over_plain_and_starttls_auth_and_reads_back_from_the_maildir() {
    let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let (prometheus, _seed) = seeded_prometheus(date);
    let url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    let truth = synth::truth(date, TZ.parse().unwrap());
    for (addr, maildir, tls, auth) in [
        ("ALMANAC_TEST_SMTP_ADDR", "ALMANAC_TEST_SMTP_MAILDIR", "none", false),
        (
            "ALMANAC_TEST_SMTP_TLS_ADDR",
            "ALMANAC_TEST_SMTP_TLS_MAILDIR",
            "starttls",
            true,
        ),
    ] {
        let ws = Workspace::new();
        let out = ws.path().join("out");
        let to = format!("team-{}@example.com", uuid::Uuid::new_v4());
        let job_extra = format!("cc = [\"ops-{}@example.com\"]", uuid::Uuid::new_v4());
        let config = jobs_toml(&url, &smtp_section(&harness_env(addr), tls, auth), &job_extra, &out)
            .replace("to = [\"team@example.com\"]", &format!("to = [\"{to}\"]"));
        ws.write("jobs.toml", &config);
        let run = run_day(&ws, date);
        run.expect_code(0);
        assert!(!out.exists(), "with [smtp] nothing is written to out/");
        let raw = maildir_message(&harness_env(maildir), &to)
            .unwrap_or_else(|| panic!("no message for {to} in {maildir}\n{}", run.describe()));
        let parsed = parse(&raw);
        assert!(parsed.subject.starts_with("AindusDB daily report 2026-11-24"));
        for value in expected(&truth) {
            assert!(parsed.text.contains(&value), "{tls}: text lacks {value:?}");
        }
        check_images(&parsed);
    }
}

#[test]
fn temporary_refusals_are_retried_and_permanent_ones_are_not() {
    let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let (prometheus, _seed) = seeded_prometheus(date);
    let url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();
    let smtp = smtp_section(&harness_env("ALMANAC_TEST_SMTP_ADDR"), "none", false);
    let maildir = harness_env("ALMANAC_TEST_SMTP_MAILDIR");

    let ws = Workspace::new();
    let to = format!("tempfail-once+{}@example.com", uuid::Uuid::new_v4());
    let config = jobs_toml(&url, &smtp, "", &ws.path().join("out"))
        .replace("to = [\"team@example.com\"]", &format!("to = [\"{to}\"]"));
    ws.write("jobs.toml", &config);
    let run = run_day(&ws, date);
    run.expect_code(0);
    assert!(run.stderr().contains(r#"\"send_attempts\":2"#), "{}", run.describe());
    assert!(
        maildir_message(&maildir, &to).is_some(),
        "delivered on the second attempt"
    );

    let ws = Workspace::new();
    let to = format!("permfail-{}@example.com", uuid::Uuid::new_v4());
    let config = jobs_toml(&url, &smtp, "send_attempts = 5", &ws.path().join("out"))
        .replace("to = [\"team@example.com\"]", &format!("to = [\"{to}\"]"));
    ws.write("jobs.toml", &config);
    let started = std::time::Instant::now();
    let run = run_day(&ws, date);
    run.expect_code(1);
    assert!(run.stderr().contains("permanently"), "{}", run.describe());
    assert!(
        !run.stderr().contains("retrying"),
        "5xx is not retried\n{}",
        run.describe()
    );
    assert!(started.elapsed().as_secs() < 30);
    assert!(maildir_message(&maildir, &to).is_none());
}

#[test]
fn a_failing_panel_is_marked_no_data_and_the_run_exits_1() {
    let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let (prometheus, _seed) = seeded_prometheus(date);
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let panels = r#"
[[jobs.daily-report.sections]]
title = "Availability"
[[jobs.daily-report.sections.panels]]
title = "Uptime"
query = 'avg(avg_over_time(up{job="aindusdb-core"}[$__range]))'
unit = "percent"
[[jobs.daily-report.sections.panels]]
title = "Broken panel"
query = 'sum(rate(aindusdb_requests_total[$__range]'
"#;
    ws.write(
        "jobs.toml",
        &(jobs_toml(prometheus.get("ALMANAC_TEST_PROMETHEUS_URL"), "", "slos = []", &out) + panels),
    );
    let run = run_day(&ws, date);
    run.expect_code(1);
    let parsed = parse(&std::fs::read(only_file(&out, "eml")).unwrap());
    assert!(
        parsed.text.contains("no data: Prometheus rejected the query"),
        "{}",
        parsed.text
    );
    assert!(parsed.html.contains("no data: Prometheus rejected the query"));
    assert!(
        parsed.subject.to_lowercase().contains("incomplete"),
        "{}",
        parsed.subject
    );
    let truth = synth::truth(date, TZ.parse().unwrap());
    assert!(parsed.text.contains(&format!("{:.2} %", truth.uptime * 100.0)));
}

#[test]
fn unreachable_prometheus_sends_nothing_and_exits_1() {
    let ws = Workspace::new();
    let out = ws.path().join("out");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ws.write(
        "jobs.toml",
        &jobs_toml(&format!("http://127.0.0.1:{port}"), "", "", &out),
    );
    let run = run_day(&ws, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
    run.expect_code(1);
    assert!(run.stderr().contains("Prometheus is unreachable"), "{}", run.describe());
    assert!(!out.exists(), "no email of empty charts");
}
