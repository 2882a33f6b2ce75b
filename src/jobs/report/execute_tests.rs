//! Unit tests of how the run classifies its failures: an email that cannot be built after the
//! queries ran fails the run (exit 1), and a report whose every query failed is transient.

use chrono::NaiveDate;

use super::*;
use crate::clients::prometheus::Labels;
use crate::jobs::report::plan::{Owned, Purpose};
use crate::jobs::report::query::When;

fn email(from: &str) -> Email {
    Email {
        from: from.into(),
        to: vec!["ops@example.com".into()],
        cc: Vec::new(),
        subject: "Daily 2026-11-24: OK".into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
        images: vec![mime::Image {
            cid: "a.png".into(),
            png: b"\x89PNG".to_vec(),
        }],
        job: "daily".into(),
        day: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        date: DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        run_id: "run-1".into(),
    }
}

#[test]
fn an_email_that_cannot_be_built_after_the_queries_fails_the_run_not_the_usage() {
    let error = message(&email("not an address"), 42).unwrap_err();
    // Usage (exit 2) would say "bad configuration, nothing done": the queries did run.
    let JobError::Fatal(error) = error else {
        panic!("expected a fatal job failure (exit 1), got {error:?}");
    };
    let text = format!("{error:#}");
    assert!(
        text.starts_with("the report's 42 queries ran but its email could not be built; nothing sent: "),
        "{text}"
    );
    assert!(text.contains("invalid from address \"not an address\""), "{text}");
    assert!(
        error.chain().any(|e| e.downcast_ref::<mime::MimeError>().is_some()),
        "the typed cause is kept"
    );
}

#[test]
fn a_valid_email_builds() {
    let built = message(&email("Monitoring <mon@example.com>"), 1).unwrap();
    let raw = String::from_utf8(built.formatted()).unwrap();
    assert!(raw.contains("X-Almanac-Run-Id: run-1"), "{raw}");
}

#[test]
fn a_report_whose_every_query_failed_is_a_transient_failure() {
    let spec = |purpose| Owned {
        owner: "S / P".into(),
        section: Some(0),
        index: 0,
        purpose,
        spec: QuerySpec {
            expr: "up".into(),
            when: When::At(DateTime::from_timestamp(0, 0).unwrap()),
        },
    };
    let specs = [spec(Purpose::Stat), spec(Purpose::PreviousStat)];
    let results = [
        QueryResult::Failed("connection refused".into()),
        QueryResult::Instant(Vec::new()),
    ];
    let error = check_answered(&Answers::new(&specs, &results)).unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(
        error.to_string(),
        "every Prometheus query failed (first: connection refused); no report sent"
    );
    let sample = crate::clients::prometheus::Sample {
        labels: Labels::new(),
        time: 0.0,
        value: 1.0,
    };
    let results = [QueryResult::Instant(vec![sample]), QueryResult::Failed("x".into())];
    assert!(check_answered(&Answers::new(&specs, &results)).is_ok());
}
