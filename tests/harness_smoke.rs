//! Smoke tests of the real test servers, through almanac's own clients: each server the
//! harness starts answers and does the one thing the jobs rely on.

mod support;

use std::time::Duration;

use almanac::clients::http::{Auth, HttpClient};
use almanac::clients::prometheus::PrometheusClient;
use almanac::config::{HumanDuration, S3Config, SmtpConfig, SmtpTls};
use chrono::{TimeZone, Utc};
use support::{PrivateServer, harness_env, unique};

fn http(url: &str) -> HttpClient {
    HttpClient::build(
        &url.parse().unwrap(),
        Auth::None,
        Duration::from_secs(10),
        &Default::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn prometheus_serves_backfilled_history() {
    // Three samples two days before a fixed time, backfilled with promtool.
    let workspace = support::Workspace::new();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let mut text = String::from("# TYPE smoke_value gauge\n");
    for (i, value) in [1.0, 2.0, 4.0].iter().enumerate() {
        text.push_str(&format!(
            "smoke_value{{kind=\"a\"}} {value} {}\n",
            t0.timestamp() + 60 * i as i64
        ));
    }
    text.push_str("# EOF\n");
    let seed = workspace.write("seed.om", &text);
    let server = PrivateServer::start("prometheus", &[("ALMANAC_SEED_OPENMETRICS", seed.to_str().unwrap())]);
    let client = PrometheusClient::from_http(http(server.get("ALMANAC_TEST_PROMETHEUS_URL")));
    let samples = client
        .query("sum(smoke_value)", t0 + chrono::Duration::seconds(130))
        .await
        .unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].value, 4.0);
    let range = client
        .query_range("smoke_value", t0, t0 + chrono::Duration::seconds(120), 60)
        .await
        .unwrap();
    assert_eq!(
        range[0].points.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![1.0, 2.0, 4.0]
    );
    assert!(!client.build_info().await.unwrap().is_empty());
}

#[tokio::test]
async fn victoria_metrics_imports_and_answers_promql() {
    let url = harness_env("ALMANAC_TEST_VM_URL");
    let client = http(&url);
    let metric = unique("smoke_vm");
    let now = Utc::now().timestamp_millis();
    let line = format!(
        "{{\"metric\":{{\"__name__\":\"{metric}\",\"job\":\"smoke\"}},\"values\":[7],\"timestamps\":[{now}]}}\n"
    );
    client
        .send(
            client.request(reqwest::Method::POST, "api/v1/import").body(line),
            "api/v1/import",
        )
        .await
        .unwrap();
    client
        .send(
            client.request(reqwest::Method::GET, "internal/force_flush"),
            "internal/force_flush",
        )
        .await
        .unwrap();
    let prometheus = PrometheusClient::from_http(client);
    // New series become searchable a moment after the flush.
    let mut samples = Vec::new();
    for _ in 0..50 {
        samples = prometheus
            .query(&format!("{metric}{{job=\"smoke\"}}"), Utc::now())
            .await
            .unwrap();
        if !samples.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0].value, 7.0);
}

#[tokio::test]
async fn pushgateway_keeps_pushed_metrics() {
    let client = http(&harness_env("ALMANAC_TEST_PUSHGATEWAY_URL"));
    let job = unique("smoke_job");
    let path = format!("metrics/job/{job}");
    let body = "# TYPE smoke_pushed gauge\nsmoke_pushed 42\n";
    client
        .send(client.request(reqwest::Method::PUT, &path).body(body), &path)
        .await
        .unwrap();
    let text = client
        .send(client.request(reqwest::Method::GET, "metrics"), "metrics")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("smoke_pushed{") && l.contains(&job) && l.ends_with(" 42")),
        "{text}"
    );
    client
        .send(client.request(reqwest::Method::DELETE, &path), &path)
        .await
        .unwrap();
}

fn s3_config(bucket: &str) -> S3Config {
    let text = format!(
        "endpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{bucket}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
        harness_env("ALMANAC_TEST_S3_URL"),
        harness_env("ALMANAC_TEST_S3_REGION"),
        harness_env("ALMANAC_TEST_S3_ACCESS_KEY"),
        harness_env("ALMANAC_TEST_S3_SECRET_KEY"),
    );
    toml::from_str(&text).unwrap()
}

#[tokio::test]
async fn s3_server_stores_objects() {
    let bucket = unique("smoke").replace('_', "-");
    let store = almanac::clients::s3::ArchiveStore::new(&s3_config(&bucket))
        .await
        .unwrap();
    store.client.create_bucket().bucket(&bucket).send().await.unwrap();
    store.check_listable().await.unwrap();
    let body = aws_sdk_s3::primitives::ByteStream::from_static(b"hello archive");
    store
        .client
        .put_object()
        .bucket(&bucket)
        .key(store.key("a/b.txt"))
        .body(body)
        .send()
        .await
        .unwrap();
    let object = store
        .client
        .get_object()
        .bucket(&bucket)
        .key("a/b.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello archive"
    );
}

fn smtp_config(addr: &str, tls: SmtpTls, auth: bool) -> SmtpConfig {
    let (host, port) = addr.rsplit_once(':').unwrap();
    SmtpConfig {
        host: if tls == SmtpTls::None {
            host.to_string()
        } else {
            "localhost".into()
        },
        port: Some(port.parse().unwrap()),
        tls,
        username: auth.then(|| harness_env("ALMANAC_TEST_SMTP_USER")),
        password: auth.then(|| almanac::config::Secret::new(harness_env("ALMANAC_TEST_SMTP_PASSWORD"))),
        password_file: None,
        from: "almanac@example.com".into(),
        ca_file: (tls != SmtpTls::None).then(|| harness_env("ALMANAC_TEST_SMTP_CA").into()),
        timeout: HumanDuration::from_secs(10),
        allow_insecure: false,
    }
}

async fn send_and_find(config: &SmtpConfig, maildir: &str) {
    use lettre::AsyncTransport;
    let subject = unique("smoke");
    let message = lettre::Message::builder()
        .from(config.from.parse().unwrap())
        .to("team@example.com".parse().unwrap())
        .subject(&subject)
        .body(String::from("hello"))
        .unwrap();
    almanac::clients::mail::transport(config)
        .unwrap()
        .send(message)
        .await
        .unwrap();
    let found = std::fs::read_dir(std::path::Path::new(maildir).join("new"))
        .unwrap()
        .filter_map(Result::ok)
        .any(|entry| {
            std::fs::read_to_string(entry.path())
                .unwrap_or_default()
                .contains(&subject)
        });
    assert!(found, "message {subject} not in {maildir}/new");
}

#[tokio::test]
async fn smtp_plain_starttls_and_smtps_deliver_to_maildir() {
    let plain = smtp_config(&harness_env("ALMANAC_TEST_SMTP_ADDR"), SmtpTls::None, false);
    send_and_find(&plain, &harness_env("ALMANAC_TEST_SMTP_MAILDIR")).await;
    let starttls = smtp_config(&harness_env("ALMANAC_TEST_SMTP_TLS_ADDR"), SmtpTls::Starttls, true);
    send_and_find(&starttls, &harness_env("ALMANAC_TEST_SMTP_TLS_MAILDIR")).await;
    let smtps = smtp_config(&harness_env("ALMANAC_TEST_SMTPS_ADDR"), SmtpTls::Implicit, true);
    send_and_find(&smtps, &harness_env("ALMANAC_TEST_SMTPS_MAILDIR")).await;
}

#[tokio::test]
async fn opensearch_node_answers() {
    let url = harness_env("ALMANAC_TEST_OPENSEARCH_URL");
    let endpoint: almanac::config::HttpEndpoint = toml::from_str(&format!("url = \"{url}\"")).unwrap();
    let info = almanac::clients::search::SearchClient::new(&endpoint)
        .unwrap()
        .info()
        .await
        .unwrap();
    assert!(info.starts_with("opensearch 2."), "{info}");
}

#[test]
fn validate_connect_reports_each_server() {
    let workspace = support::Workspace::new();
    workspace.write(
        "jobs.toml",
        &format!(
            "[prometheus]\nurl = \"{}\"\n\n[pushgateway]\nurl = \"{}\"\n\n[search]\nurl = \"http://127.0.0.1:9\"\n",
            harness_env("ALMANAC_TEST_VM_URL"),
            harness_env("ALMANAC_TEST_PUSHGATEWAY_URL")
        ),
    );
    let result = workspace.almanac(&["validate", "--connect", "--output", "json"], &[]);
    result.expect_code(1);
    let report: serde_json::Value = serde_json::from_str(result.stdout().trim()).unwrap();
    let servers = report["servers"].as_array().unwrap();
    let status = |section: &str| {
        servers.iter().find(|s| s["section"] == section).unwrap()["ok"]
            .as_bool()
            .unwrap()
    };
    assert!(status("prometheus"), "{}", result.describe());
    assert!(status("pushgateway"), "{}", result.describe());
    assert!(!status("search"), "port 9 must not answer\n{}", result.describe());
}
