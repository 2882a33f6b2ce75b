//! TLS against real servers: a Prometheus, a Pushgateway and an S3 server (moto) serving
//! HTTPS with a test CA (scripts/harness/pki.sh), and the same with a required client
//! certificate (mutual TLS). Trust comes only from `ca_file`; a certificate failure is
//! permanent (not retried) and named once.

mod support;

use support::{PrivateServer, Run, Workspace};

/// TLS lines of a section: `ca_file` and, when `client`, the client certificate.
fn tls_lines(server: &PrivateServer, ca: bool, client: bool) -> String {
    let mut lines = String::new();
    if ca {
        lines += &format!("ca_file = \"{}\"\n", server.get("ALMANAC_TEST_TLS_CA"));
    }
    if client {
        lines += &format!(
            "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
            server.get("ALMANAC_TEST_TLS_CLIENT_CERT"),
            server.get("ALMANAC_TEST_TLS_CLIENT_KEY")
        );
    }
    lines
}

/// A tsdb-retention job with nothing to delete: one real series scan against Prometheus,
/// then a push of its run metrics.
fn jobs_toml(prometheus: &str, prometheus_tls: &str, pushgateway: &str, pushgateway_tls: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{prometheus}"
timeout = "10s"
{prometheus_tls}
[pushgateway]
url = "{pushgateway}"
fail_run_on_error = true
{pushgateway_tls}
[jobs.tsdb]
kind = "tsdb-retention"
schedule = "0 30 3 * * *"
timeout = "2m"
retries = 2
backoff = "1s"

[[jobs.tsdb.rules]]
stale = '{{job="almanac-tls-test"}}'
after = "2d"
"#
    )
}

fn all(run: &Run) -> String {
    format!("{}{}", run.stdout(), run.stderr())
}

/// Asserts the run failed on TLS for `url`, at the first attempt, naming the cause once.
fn assert_tls_failure(run: &Run, url: &str) {
    run.expect_code(1);
    let text = all(run);
    assert!(text.contains(&format!("TLS with {url}")), "{}", run.describe());
    assert!(
        !text.contains("will retry"),
        "a certificate failure was retried:\n{}",
        run.describe()
    );
    let hint = "set ca_file to the CA that signed it";
    assert!(text.contains(hint), "{}", run.describe());
    let first_error = text
        .lines()
        .find(|line| line.contains(&format!("TLS with {url}")))
        .unwrap_or_default();
    assert_eq!(first_error.matches(hint).count(), 1, "hint repeated: {first_error}");
}

fn pushed_job_metric(gateway: &PrivateServer, job: &str) -> bool {
    let pem = std::fs::read(gateway.get("ALMANAC_TEST_TLS_CA")).unwrap();
    let mut identity = std::fs::read(gateway.get("ALMANAC_TEST_TLS_CLIENT_CERT")).unwrap();
    identity.extend(std::fs::read(gateway.get("ALMANAC_TEST_TLS_CLIENT_KEY")).unwrap());
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    let body = client
        .get(format!("{}/metrics", gateway.get("ALMANAC_TEST_PUSHGATEWAY_URL")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    body.lines().any(|line| {
        line.starts_with("almanac_job_last_success_timestamp_seconds{") && line.contains(&format!("job=\"{job}\""))
    })
}

#[test]
fn https_with_a_test_ca_works_only_with_ca_file() {
    let prometheus = PrivateServer::start("prometheus", &[("ALMANAC_TLS", "server")]);
    let gateway = PrivateServer::start("pushgateway", &[("ALMANAC_TLS", "server")]);
    let prom_url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL");
    let gateway_url = gateway.get("ALMANAC_TEST_PUSHGATEWAY_URL");
    assert!(prom_url.starts_with("https://") && gateway_url.starts_with("https://"));
    let ws = Workspace::new();

    // Without ca_file the system roots do not know the test CA: refused, not retried.
    ws.write(
        "jobs.toml",
        &jobs_toml(prom_url, "", gateway_url, &tls_lines(&gateway, true, false)),
    );
    let run = ws.almanac(&["run", "tsdb"], &[]);
    assert_tls_failure(&run, prom_url);
    let connect = ws.almanac(&["validate", "--connect"], &[]);
    connect.expect_code(1);
    assert!(all(&connect).contains("TLS with"), "{}", connect.describe());

    // With the CA for both servers: the scan runs and the push lands, over HTTPS.
    ws.write(
        "jobs.toml",
        &jobs_toml(
            prom_url,
            &tls_lines(&prometheus, true, false),
            gateway_url,
            &tls_lines(&gateway, true, false),
        ),
    );
    ws.almanac(&["validate", "--connect"], &[]).expect_code(0);
    ws.almanac(&["run", "tsdb"], &[]).expect_code(0);
    assert!(pushed_job_metric(&gateway, "tsdb"), "no metrics pushed over HTTPS");

    // The Pushgateway's CA missing: the push fails on TLS (fail_run_on_error), named once.
    ws.write(
        "jobs.toml",
        &jobs_toml(prom_url, &tls_lines(&prometheus, true, false), gateway_url, ""),
    );
    let run = ws.almanac(&["run", "tsdb"], &[]);
    assert_ne!(run.code(), 0, "{}", run.describe());
    assert!(
        all(&run).contains(&format!("TLS with {gateway_url}")),
        "{}",
        run.describe()
    );
}

#[test]
fn a_server_requiring_a_client_certificate_gets_it_from_client_cert_file() {
    let prometheus = PrivateServer::start("prometheus", &[("ALMANAC_TLS", "mutual")]);
    let gateway = PrivateServer::start("pushgateway", &[("ALMANAC_TLS", "mutual")]);
    let prom_url = prometheus.get("ALMANAC_TEST_PROMETHEUS_URL");
    let gateway_url = gateway.get("ALMANAC_TEST_PUSHGATEWAY_URL");
    let ws = Workspace::new();

    // The CA alone is not enough: the server refuses the handshake without a certificate.
    ws.write(
        "jobs.toml",
        &jobs_toml(
            prom_url,
            &tls_lines(&prometheus, true, false),
            gateway_url,
            &tls_lines(&gateway, true, true),
        ),
    );
    // With TLS 1.3 the refusal is a closed connection, which a restart also causes: retried,
    // and the message says what to set.
    let run = ws.almanac(&["run", "tsdb"], &[]);
    run.expect_code(1);
    assert!(all(&run).contains(prom_url), "{}", run.describe());
    assert!(
        all(&run).contains("set client_cert_file and client_key_file"),
        "{}",
        run.describe()
    );

    ws.write(
        "jobs.toml",
        &jobs_toml(
            prom_url,
            &tls_lines(&prometheus, true, true),
            gateway_url,
            &tls_lines(&gateway, true, true),
        ),
    );
    ws.almanac(&["validate", "--connect"], &[]).expect_code(0);
    ws.almanac(&["run", "tsdb"], &[]).expect_code(0);
    assert!(
        pushed_job_metric(&gateway, "tsdb"),
        "no metrics pushed with the client certificate"
    );
}

#[test]
fn a_client_certificate_without_its_key_is_a_config_error() {
    let ws = Workspace::new();
    ws.write("client.pem", "-----BEGIN CERTIFICATE-----\n");
    ws.write(
        "jobs.toml",
        "[prometheus]\nurl = \"https://127.0.0.1:1\"\nclient_cert_file = \"client.pem\"\n\n\
         [jobs.tsdb]\nkind = \"tsdb-retention\"\nschedule = \"0 30 3 * * *\"\n\
         [[jobs.tsdb.rules]]\nstale = '{job=\"x\"}'\nafter = \"2d\"\n",
    );
    let run = ws.almanac(&["validate"], &[]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("jobs.toml:3:") && run.stderr().contains("client_key_file is missing"),
        "{}",
        run.describe()
    );
}

/// `[s3]` with `ca_file`, on an S3 server (moto) serving HTTPS with the test CA: the AWS SDK's
/// own HTTP client trusts it; without `ca_file` the listing fails on the certificate.
#[test]
fn s3_over_https_trusts_ca_file() {
    let s3 = PrivateServer::start("s3", &[("ALMANAC_TLS", "server")]);
    let url = s3.get("ALMANAC_TEST_S3_URL");
    assert!(url.starts_with("https://"), "{url}");
    let ca = std::fs::read(s3.get("ALMANAC_TEST_TLS_CA")).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let created = client.put(format!("{url}/tls-archive")).send().unwrap();
    assert!(created.status().is_success(), "{created:?}");

    let config = |ca_line: &str| {
        format!(
            "[s3]\nendpoint = \"{url}\"\nbucket = \"tls-archive\"\nprefix = \"logs\"\n\
             access_key_id = \"testing\"\nsecret_access_key = \"testing\"\ntimeout = \"10s\"\n{ca_line}\n\
             [jobs.noop]\nkind = \"noop\"\nschedule = \"0 0 * * * *\"\n"
        )
    };
    let ws = Workspace::new();
    ws.write("jobs.toml", &config(&tls_lines(&s3, true, false)));
    let ok = ws.almanac(&["validate", "--connect"], &[]);
    ok.expect_code(0);
    assert!(ok.stdout().contains("archive prefix listable"), "{}", ok.describe());

    ws.write("jobs.toml", &config(""));
    let refused = ws.almanac(&["validate", "--connect"], &[]);
    refused.expect_code(1);
    let text = all(&refused);
    assert_eq!(
        text.matches("UnknownIssuer").count(),
        1,
        "the cause named once: {}",
        refused.describe()
    );
    assert!(text.contains("set ca_file in [s3]"), "{}", refused.describe());
}
