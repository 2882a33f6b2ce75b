//! How the `tsdb-rollup` job reads raw samples: remote read (streamed XOR chunks) or the query
//! API's JSON, chosen from the setting and what the source is. Pure.

use serde::Serialize;

use super::settings::RawRead;
use crate::clients::prometheus::remote_read::LabelMatcher;
use crate::jobs::tsdb_retention::Selector;
use crate::jobs::tsdb_retention::decide::MatchOp;

/// The read the run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadPath {
    /// `POST /api/v1/read`, chunks as stored: a fraction of the server's CPU.
    RemoteRead,
    /// `selector[range]` instant queries answered in JSON.
    Query,
}

/// What planning learnt about the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Prometheus; `external_labels` is `None` when its configuration could not be read.
    Prometheus {
        external_labels: Option<bool>,
    },
    VictoriaMetrics,
    /// Neither answered as expected (a proxy, missing permissions).
    Unknown,
}

/// The read path for `setting` and `source`, with the reason the plan shows; an error when
/// `remote-read` is forced where it would read wrong or not at all.
pub fn choose(setting: RawRead, source: Source) -> Result<(ReadPath, String), String> {
    const EXTERNAL: &str = "the source has external labels, which remote read adds to every series \
                            (the rollups would carry them)";
    match (setting, source) {
        (RawRead::Query, _) => Ok((ReadPath::Query, "raw_read = \"query\"".into())),
        (RawRead::RemoteRead, Source::VictoriaMetrics) => Err(
            "raw_read = \"remote-read\": the source is VictoriaMetrics, which has no remote read API; \
                 use raw_read = \"query\" or \"auto\""
                .into(),
        ),
        (
            RawRead::RemoteRead,
            Source::Prometheus {
                external_labels: Some(true),
            },
        ) => Err(format!(
            "raw_read = \"remote-read\": {EXTERNAL}; use raw_read = \"query\" or \"auto\""
        )),
        (RawRead::RemoteRead, _) => Ok((ReadPath::RemoteRead, "raw_read = \"remote-read\"".into())),
        (RawRead::Auto, Source::VictoriaMetrics) => Ok((
            ReadPath::Query,
            "auto: the source is VictoriaMetrics (no remote read)".into(),
        )),
        (RawRead::Auto, Source::Unknown) => Ok((
            ReadPath::Query,
            "auto: the source did not say what it is (/api/v1/status/flags)".into(),
        )),
        (RawRead::Auto, Source::Prometheus { external_labels }) => Ok(match external_labels {
            Some(false) => (ReadPath::RemoteRead, "auto: Prometheus without external labels".into()),
            Some(true) => (ReadPath::Query, format!("auto: {EXTERNAL}")),
            None => (
                ReadPath::Query,
                "auto: the source's configuration (/api/v1/status/config) is not readable, so \
                 external labels cannot be ruled out"
                    .into(),
            ),
        }),
    }
}

/// A parsed selector as remote read's matchers.
pub fn matchers(selector: &Selector) -> Vec<LabelMatcher> {
    selector
        .matchers
        .iter()
        .map(|m| LabelMatcher {
            kind: match m.op {
                MatchOp::Eq => 0,
                MatchOp::Ne => 1,
                MatchOp::Re => 2,
                MatchOp::Nre => 3,
            },
            name: m.label.clone(),
            value: m.value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prometheus(external_labels: Option<bool>) -> Source {
        Source::Prometheus { external_labels }
    }

    #[test]
    fn auto_reads_remotely_only_from_a_prometheus_known_to_add_nothing() {
        let path = |source| choose(RawRead::Auto, source).unwrap().0;
        assert_eq!(path(prometheus(Some(false))), ReadPath::RemoteRead);
        assert_eq!(path(prometheus(Some(true))), ReadPath::Query);
        assert_eq!(path(prometheus(None)), ReadPath::Query);
        assert_eq!(path(Source::VictoriaMetrics), ReadPath::Query);
        assert_eq!(path(Source::Unknown), ReadPath::Query);
    }

    #[test]
    fn forced_remote_read_is_refused_where_it_cannot_be_right() {
        assert!(
            choose(RawRead::RemoteRead, Source::VictoriaMetrics)
                .unwrap_err()
                .contains("VictoriaMetrics")
        );
        assert!(
            choose(RawRead::RemoteRead, prometheus(Some(true)))
                .unwrap_err()
                .contains("external labels")
        );
        assert_eq!(
            choose(RawRead::RemoteRead, prometheus(None)).unwrap().0,
            ReadPath::RemoteRead
        );
        assert_eq!(
            choose(RawRead::Query, prometheus(Some(false))).unwrap().0,
            ReadPath::Query
        );
    }

    #[test]
    fn selectors_become_matchers_of_the_same_kinds() {
        let selector = Selector::parse(r#"up{job="a",b!="c",d=~"e.*",f!~"g"}"#).unwrap();
        let list = matchers(&selector);
        let kinds: Vec<(i32, &str)> = list.iter().map(|m| (m.kind, m.name.as_str())).collect();
        assert_eq!(kinds, [(0, "__name__"), (0, "job"), (1, "b"), (2, "d"), (3, "f")]);
    }
}
