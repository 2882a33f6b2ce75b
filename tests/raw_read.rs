//! The two ways tsdb-rollup reads raw samples, on a real Prometheus: remote read (streamed XOR
//! chunks) answers exactly what the query API answers, and `auto` avoids it where it would not.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use almanac::clients::http::{Auth, HttpClient};
use almanac::clients::prometheus::raw::{RawClient, RawSeries};
use almanac::clients::prometheus::remote_read::LabelMatcher;
use almanac::clients::remote_write::{Receiver, RemoteWriteClient, Sample, TimeSeries, WriteRequest};
use almanac::config::TlsFiles;
use chrono::DateTime;
use serde_json::Value;
use support::{PrivateServer, Workspace, unique};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn client(url: &str) -> RawClient {
    RawClient::new(
        HttpClient::build(
            &url.parse().unwrap(),
            Auth::None,
            Duration::from_secs(60),
            &TlsFiles::default(),
        )
        .unwrap(),
    )
}

/// Two days of 150 series (gauges and counters, one sample a minute) ending three days ago,
/// for promtool to backfill into blocks.
fn history(p: &str, end: i64) -> String {
    let mut out = String::new();
    for metric in 0..3 {
        let name = format!("{p}_m{metric}");
        writeln!(out, "# TYPE {name} unknown").unwrap();
        for s in 0..50 {
            let mut t = end - 2 * 86_400;
            let mut value = 0.0f64;
            while t < end {
                value = if metric == 0 {
                    value + ((t / 60 + s) % 7) as f64
                } else {
                    ((t / 60 * 31 + s) % 1000) as f64 / 7.0
                };
                writeln!(out, "{name}{{s=\"{s:02}\",k=\"v\\\"q\"}} {value} {t}").unwrap();
                t += 60;
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// A series to write: labels, then (ms, value) points.
type Points = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// A private Prometheus (out-of-order window 10 d) backfilled with `history`, started with one
/// more setting; keep the directory while it runs.
fn seeded(p: &str, history_end: i64, setting: (&str, &str)) -> (PrivateServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.om");
    std::fs::write(&seed, history(p, history_end)).unwrap();
    let server = PrivateServer::start(
        "prometheus",
        &[
            ("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap()),
            ("ALMANAC_PROMETHEUS_OOO_WINDOW", "10d"),
            setting,
        ],
    );
    (server, dir)
}

/// Writes `series` by remote write.
fn write(url: &str, series: Vec<Points>) {
    let http = HttpClient::build(
        &url.parse().unwrap(),
        Auth::None,
        Duration::from_secs(60),
        &TlsFiles::default(),
    )
    .unwrap();
    let request = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, points)| {
                TimeSeries::new(
                    labels,
                    points
                        .iter()
                        .map(|&(timestamp, value)| Sample { value, timestamp })
                        .collect(),
                )
            })
            .collect(),
    };
    let writer = RemoteWriteClient::new(http, Receiver::Prometheus);
    runtime().block_on(writer.write(&request)).unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn labels(name: &str, s: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("__name__".to_string(), name.to_string()),
        ("s".to_string(), format!("{s:02}")),
    ])
}

/// Series as comparable values: labels and (ms, value bits).
fn comparable(series: Vec<RawSeries>) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, u64)>> {
    series
        .into_iter()
        .map(|s| (s.labels, s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect()))
        .collect()
}

#[test]
fn remote_read_answers_exactly_what_the_query_api_answers() {
    let p = format!("rr_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let now = now_s();
    let history_end = (now - 3 * 86_400) / 3600 * 3600;
    // Small frames: series are split across frames and frames across reads.
    let (server, _dir) = seeded(&p, history_end, ("ALMANAC_PROMETHEUS_READ_FRAME_BYTES", "512"));
    let url = server.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();

    // The head: the last 3 hours at 15 s, with a stale marker and a NaN, written newest half
    // first so the older half goes through the out-of-order head; and old samples of a
    // series the blocks do not have (out-of-order head over the blocks' time).
    let head_start = (now - 3 * 3600) * 1000;
    let head: Vec<Points> = (0..20)
        .map(|s| {
            let points = (0..720)
                .map(|i| {
                    let t = head_start + i * 15_000;
                    let value = match i {
                        300 if s % 2 == 0 => f64::from_bits(STALE_NAN),
                        400 if s == 3 => f64::NAN,
                        _ => (i * (s as i64 + 1)) as f64 * 0.25,
                    };
                    (t, value)
                })
                .collect();
            (labels(&format!("{p}_head"), s), points)
        })
        .collect();
    let newer: Vec<_> = head.iter().map(|(l, pts)| (l.clone(), pts[360..].to_vec())).collect();
    let older: Vec<_> = head.iter().map(|(l, pts)| (l.clone(), pts[..360].to_vec())).collect();
    write(&url, newer);
    write(&url, older);
    let old_start = (history_end - 86_400) * 1000;
    write(
        &url,
        vec![(
            labels(&format!("{p}_late"), 0),
            (0..240).map(|i| (old_start + i * 60_000, i as f64)).collect(),
        )],
    );

    let raw = client(&url);
    let selector = format!("{{__name__=~\"{p}_.+\"}}");
    let matchers = vec![LabelMatcher {
        kind: 2,
        name: "__name__".into(),
        value: format!("{p}_.+"),
    }];
    let rt = runtime();
    // Windows: one hour in the blocks, the hour holding the stale marker, the whole head,
    // and six days across the blocks, the late series and the head.
    let windows = [
        (history_end - 86_400 + 1800, 3600),
        (now - 3 * 3600 + 300 * 15 + 60, 3600),
        (now, 4 * 3600),
        (now, 6 * 86_400),
    ];
    let mut total_points = 0;
    for (at_s, range) in windows {
        let at = DateTime::from_timestamp(at_s, 0).unwrap() - chrono::Duration::milliseconds(1);
        let end_ms = at.timestamp_millis();
        let by_query = comparable(rt.block_on(raw.samples(&selector, range, at)).unwrap());
        let by_read = comparable(rt.block_on(raw.read(&matchers, end_ms - range * 1000, end_ms)).unwrap());
        assert!(!by_query.is_empty(), "window at {at} has data");
        assert_eq!(
            by_read.keys().collect::<Vec<_>>(),
            by_query.keys().collect::<Vec<_>>(),
            "same series at {at}"
        );
        for (labels, points) in &by_query {
            assert_eq!(&by_read[labels], points, "{labels:?} at {at} over {range}s");
            total_points += points.len();
        }
    }
    // The stale marker is not a sample in either; the NaN is.
    let all = comparable(rt.block_on(raw.read(&matchers, head_start, now * 1000)).unwrap());
    let series0 = &all[&labels(&format!("{p}_head"), 0)];
    assert_eq!(series0.len(), 719, "one stale marker left out");
    assert!(
        all[&labels(&format!("{p}_head"), 3)]
            .iter()
            .any(|&(_, v)| f64::from_bits(v).is_nan())
    );
    assert!(total_points > 150 * 2 * 1440, "{total_points}");
}

fn job_config(url: &str, job: &str, p: &str, raw_read: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{url}"

[jobs.{job}]
kind = "tsdb-rollup"
schedule = "0 5 * * * *"
tiers = ["1h"]
lookback = "4d"
{raw_read}

[[jobs.{job}.rules]]
selector = '{{__name__=~"{p}_.+"}}'
type = "gauge"
"#
    )
}

#[test]
fn auto_reads_through_the_query_api_from_a_source_with_external_labels() {
    let p = format!("rr_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let history_end = (now_s() - 3 * 86_400) / 3600 * 3600;
    let (server, _dir) = seeded(&p, history_end, ("ALMANAC_PROMETHEUS_EXTERNAL_LABELS", "cluster: test"));
    let url = server.get("ALMANAC_TEST_PROMETHEUS_URL").to_string();

    // What the test guards against: remote read adds the external label to every series.
    let read = runtime()
        .block_on(client(&url).read(
            &[LabelMatcher {
                kind: 0,
                name: "__name__".into(),
                value: format!("{p}_m1"),
            }],
            (history_end - 3600) * 1000,
            history_end * 1000,
        ))
        .unwrap();
    assert!(
        read.iter()
            .all(|s| s.labels.get("cluster").map(String::as_str) == Some("test"))
    );

    let work = Workspace::new();
    let job = unique("ext");
    let now = DateTime::from_timestamp(history_end + 3600, 0).unwrap().to_rfc3339();
    work.write("jobs.toml", &job_config(&url, &job, &p, ""));
    let dry = work.almanac(&["run", &job, "--now", &now, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap();
    assert_eq!(plan["read"], "query", "{plan:#}");
    assert!(
        plan["read_reason"].as_str().unwrap().contains("external labels"),
        "{plan:#}"
    );
    let text = work.almanac(&["run", &job, "--now", &now, "--dry-run"], &[]);
    assert!(
        text.stdout().contains("raw samples read with the query API"),
        "{}",
        text.describe()
    );

    let run = work.almanac(&["run", &job, "--now", &now, "--allow-clock-skew"], &[]);
    run.expect_code(0);
    let answer: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/query"))
        .form(&[
            ("query", format!("{{__name__=~\"{p}_.+:1h_avg\"}}[5d]")),
            ("time", (history_end + 3600).to_string()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let result = answer["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 150, "{answer}");
    assert!(
        result.iter().all(|s| s["metric"].get("cluster").is_none()),
        "rollups carry the stored labels only"
    );

    // Forcing remote read there is refused before anything is read or written.
    work.write("jobs.toml", &job_config(&url, &job, &p, "raw_read = \"remote-read\""));
    let forced = work.almanac(&["run", &job, "--now", &now, "--allow-clock-skew"], &[]);
    forced.expect_code(2);
    assert!(forced.stderr().contains("external labels"), "{}", forced.describe());
}

#[test]
fn auto_reads_remotely_from_a_plain_prometheus() {
    let p = format!("rr_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let history_end = (now_s() - 3 * 86_400) / 3600 * 3600;
    let (server, _dir) = support::seeded_prometheus(&history(&p, history_end));
    let url = server.get("ALMANAC_TEST_PROMETHEUS_URL");
    let work = Workspace::new();
    let job = unique("plain");
    let now = DateTime::from_timestamp(history_end + 3600, 0).unwrap().to_rfc3339();
    work.write("jobs.toml", &job_config(url, &job, &p, ""));
    let dry = work.almanac(&["run", &job, "--now", &now, "--dry-run", "--output", "json"], &[]);
    dry.expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap();
    assert_eq!(plan["read"], "remote_read", "{plan:#}");
    work.write("jobs.toml", &job_config(url, &job, &p, "raw_read = \"query\""));
    let dry = work.almanac(&["run", &job, "--now", &now, "--dry-run", "--output", "json"], &[]);
    let plan: Value = serde_json::from_str(&dry.stdout()).unwrap();
    assert_eq!(plan["read"], "query", "{plan:#}");
}
