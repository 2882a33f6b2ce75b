//! The run metrics, defined once: one table gives each family its name, type, help, labels
//! and when a run pushes it. `serve`'s `/metrics` and the Pushgateway body render from it.
//!
//! Pure: a finished run comes in as plain data ([`Finished`]); I/O is in `push.rs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// A metric family's type in the text exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// When a finished run sends the family to the Pushgateway (POST keeps absent families, so
/// what is left out matters as much as what is sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Every run that did something (not a dry run).
    Always,
    /// Only a successful run: a failure never touches the last-success time.
    OnSuccess,
    /// Only a failed or partial run.
    OnFailure,
    /// Runs that finished with counts (success or partial).
    WithCounts,
    /// Only in `serve`'s registry (counters and live state make no sense per run).
    Never,
}

/// One metric family.
#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Labels besides `job_name`, which every sample has.
    pub labels: &'static [&'static str],
    pub pushed: Pushed,
}

macro_rules! family {
    ($id:ident, $name:literal, $kind:ident, $help:literal, [$($label:literal),*], $pushed:ident) => {
        pub const $id: Family = Family {
            name: $name,
            kind: Kind::$kind,
            help: $help,
            labels: &[$($label),*],
            pushed: Pushed::$pushed,
        };
    };
}

family!(
    RUNS,
    "almanac_job_runs_total",
    Counter,
    "Finished runs by outcome",
    ["outcome"],
    Never
);
family!(
    LAST_RUN,
    "almanac_job_last_run_timestamp_seconds",
    Gauge,
    "End time of the last run",
    [],
    Always
);
family!(
    LAST_SUCCESS,
    "almanac_job_last_success_timestamp_seconds",
    Gauge,
    "End time of the last successful run",
    [],
    OnSuccess
);
family!(
    LAST_FAILURE,
    "almanac_job_last_failure_timestamp_seconds",
    Gauge,
    "End time of the last failed or partial run",
    [],
    OnFailure
);
family!(
    DURATION,
    "almanac_job_duration_seconds",
    Gauge,
    "Duration of the last run",
    [],
    Always
);
family!(
    LAST_OUTCOME,
    "almanac_job_last_outcome",
    Gauge,
    "1 for the outcome of the last run, 0 for the others",
    ["outcome"],
    Always
);
family!(
    COUNTS,
    "almanac_job_outcome_count",
    Gauge,
    "The job's own counts from its last run (series deleted, documents archived, ...)",
    ["count"],
    WithCounts
);
family!(
    RUNNING,
    "almanac_job_running",
    Gauge,
    "1 while a run of the job is in progress",
    [],
    Never
);
family!(
    SKIPPED,
    "almanac_job_skipped_total",
    Counter,
    "Scheduled ticks skipped because the previous run was still going",
    [],
    Never
);

/// Every family, in exposition order.
pub const FAMILIES: [&Family; 9] = [
    &RUNS,
    &LAST_RUN,
    &LAST_SUCCESS,
    &LAST_FAILURE,
    &DURATION,
    &LAST_OUTCOME,
    &COUNTS,
    &RUNNING,
    &SKIPPED,
];

/// The values of `almanac_job_last_outcome`'s `outcome` label.
pub const OUTCOMES: [&str; 4] = ["success", "partial", "failed", "planned"];

/// A finished run as the metrics see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub job: String,
    /// One of [`OUTCOMES`].
    pub outcome: &'static str,
    /// Unix seconds.
    pub end: f64,
    pub duration_seconds: f64,
    /// The job's own counts; empty when it did not get to the end.
    pub counts: Vec<(String, f64)>,
}

impl Finished {
    fn succeeded(&self) -> bool {
        self.outcome == "success"
    }
}

/// One sample: its family, extra label values (in the family's label order) and value.
#[derive(Clone, Debug, PartialEq)]
struct Sample {
    family: &'static Family,
    labels: Vec<String>,
    value: f64,
}

/// The gauges a finished run sets, each with whether this run pushes it.
fn run_samples(run: &Finished) -> Vec<(Sample, bool)> {
    let sample = |family: &'static Family, labels: Vec<String>, value: f64| Sample { family, labels, value };
    let mut samples = vec![
        sample(&LAST_RUN, vec![], run.end),
        sample(&DURATION, vec![], run.duration_seconds),
    ];
    for name in OUTCOMES {
        samples.push(sample(
            &LAST_OUTCOME,
            vec![name.into()],
            f64::from(u8::from(name == run.outcome)),
        ));
    }
    if run.succeeded() {
        samples.push(sample(&LAST_SUCCESS, vec![], run.end));
    } else if run.outcome != "planned" {
        samples.push(sample(&LAST_FAILURE, vec![], run.end));
    }
    for (name, value) in &run.counts {
        samples.push(sample(&COUNTS, vec![name.clone()], *value));
    }
    samples
        .into_iter()
        .map(|s| {
            let pushed = match s.family.pushed {
                Pushed::Always => true,
                Pushed::OnSuccess => run.succeeded(),
                Pushed::OnFailure => !run.succeeded(),
                Pushed::WithCounts => !run.counts.is_empty(),
                Pushed::Never => false,
            };
            (s, pushed)
        })
        .collect()
}

/// The Pushgateway body of a finished run (text format), or `None` for a dry run: nothing
/// happened, nothing to report.
pub fn push_body(run: &Finished) -> Option<String> {
    if run.outcome == "planned" {
        return None;
    }
    let samples: Vec<(String, Sample)> = run_samples(run)
        .into_iter()
        .filter(|(_, pushed)| *pushed)
        .map(|(sample, _)| (run.job.clone(), sample))
        .collect();
    Some(render(&samples))
}

/// Text exposition of samples grouped by family, in table order (`job_name` first).
fn render(samples: &[(String, Sample)]) -> String {
    let mut text = String::new();
    for family in FAMILIES {
        let mine: Vec<&(String, Sample)> = samples.iter().filter(|(_, s)| s.family == family).collect();
        if mine.is_empty() {
            continue;
        }
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {kind}", family.name);
        for (job, sample) in mine {
            let _ = write!(text, "{}{{job_name=\"{}\"", family.name, escape(job));
            for (key, value) in family.labels.iter().zip(&sample.labels) {
                let _ = write!(text, ",{key}=\"{}\"", escape(value));
            }
            let _ = writeln!(text, "}} {}", sample.value);
        }
    }
    text
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A series: family name, job, extra label values.
type SeriesKey = (&'static str, String, Vec<String>);
type Series = BTreeMap<SeriesKey, (String, Sample)>;

/// `serve`'s registry: the latest value of every series, rendered on `/metrics`.
#[derive(Default)]
pub struct Registry {
    series: Mutex<Series>,
}

impl Registry {
    fn with<R>(&self, f: impl FnOnce(&mut Series) -> R) -> R {
        let mut series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut series)
    }

    fn set(&self, family: &'static Family, job: &str, labels: Vec<String>, value: impl FnOnce(f64) -> f64) {
        self.with(|series| {
            let key = (family.name, job.to_string(), labels.clone());
            let entry = series.entry(key).or_insert_with(|| {
                (
                    job.to_string(),
                    Sample {
                        family,
                        labels,
                        value: 0.0,
                    },
                )
            });
            entry.1.value = value(entry.1.value);
        });
    }

    /// Records a finished run: every gauge it sets, and one more run of its outcome.
    pub fn record(&self, run: &Finished) {
        self.set(&RUNS, &run.job, vec![run.outcome.into()], |n| n + 1.0);
        for (sample, _) in run_samples(run) {
            self.set(sample.family, &run.job, sample.labels, |_| sample.value);
        }
    }

    pub fn set_running(&self, job: &str, running: bool) {
        self.set(&RUNNING, job, vec![], |_| f64::from(u8::from(running)));
    }

    pub fn skipped(&self, job: &str) {
        self.set(&SKIPPED, job, vec![], |n| n + 1.0);
    }

    /// The text exposition (format 0.0.4) of every series.
    pub fn encode(&self) -> String {
        let samples: Vec<(String, Sample)> = self.with(|series| series.values().cloned().collect());
        render(&samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: &'static str, counts: &[(&str, f64)]) -> Finished {
        Finished {
            job: "daily-report".into(),
            outcome,
            end: 1_795_586_412.5,
            duration_seconds: 12.5,
            counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn success_pushes_last_success_and_counts_but_no_failure() {
        let body = push_body(&run("success", &[("emails_sent", 3.0)])).unwrap();
        for line in [
            "almanac_job_last_success_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n",
            "almanac_job_last_run_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n",
            "almanac_job_duration_seconds{job_name=\"daily-report\"} 12.5\n",
            "almanac_job_last_outcome{job_name=\"daily-report\",outcome=\"success\"} 1\n",
            "almanac_job_last_outcome{job_name=\"daily-report\",outcome=\"failed\"} 0\n",
            "almanac_job_outcome_count{job_name=\"daily-report\",count=\"emails_sent\"} 3\n",
            "# TYPE almanac_job_outcome_count gauge\n",
        ] {
            assert!(body.contains(line), "{line} missing from\n{body}");
        }
        assert!(!body.contains(LAST_FAILURE.name));
        assert!(!body.contains(RUNS.name), "counters are never pushed");
    }

    #[test]
    fn failure_never_pushes_last_success_nor_counts() {
        let body = push_body(&run("failed", &[])).unwrap();
        assert!(!body.contains(LAST_SUCCESS.name), "{body}");
        assert!(!body.contains(COUNTS.name));
        assert!(body.contains("almanac_job_last_failure_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n"));
        assert!(body.contains("outcome=\"failed\"} 1\n"));
    }

    #[test]
    fn a_partial_run_pushes_its_counts_and_a_failure_time() {
        let body = push_body(&run("partial", &[("indices_archived", 2.0)])).unwrap();
        assert!(
            body.contains(LAST_FAILURE.name) && body.contains("count=\"indices_archived\"} 2\n"),
            "{body}"
        );
        assert!(!body.contains(LAST_SUCCESS.name));
    }

    #[test]
    fn dry_runs_push_nothing() {
        assert_eq!(push_body(&run("planned", &[])), None);
    }

    #[test]
    fn serve_exposes_every_pushed_family_and_counts_runs() {
        let registry = Registry::default();
        registry.record(&run("success", &[("bytes", 1.0)]));
        registry.record(&run("failed", &[]));
        registry.record(&run("failed", &[]));
        registry.set_running("daily-report", true);
        registry.skipped("daily-report");
        let exposed = registry.encode();
        for family in FAMILIES {
            assert!(
                exposed.contains(&format!("\n{}{{", family.name)),
                "{} not exposed:\n{exposed}",
                family.name
            );
        }
        assert!(exposed.contains("almanac_job_runs_total{job_name=\"daily-report\",outcome=\"failed\"} 2\n"));
        assert!(exposed.contains("# TYPE almanac_job_runs_total counter\n"));
        // The last outcome is the failure; the last success time stays.
        assert!(exposed.contains("almanac_job_last_outcome{job_name=\"daily-report\",outcome=\"success\"} 0\n"));
        assert!(
            exposed.contains("almanac_job_last_success_timestamp_seconds{job_name=\"daily-report\"} 1795586412.5\n")
        );
        assert!(exposed.contains("almanac_job_running{job_name=\"daily-report\"} 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn family_names_are_unique_and_counters_end_in_total() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        for family in FAMILIES {
            assert_eq!(
                family.kind == Kind::Counter,
                family.name.ends_with("_total"),
                "{}",
                family.name
            );
            assert!(
                family.kind == Kind::Gauge || family.pushed == Pushed::Never,
                "{}",
                family.name
            );
        }
    }
}
