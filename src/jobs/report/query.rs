//! Runs a report's PromQL queries in parallel, at most `parallelism` at once, each with its
//! own timeout; a failed query becomes a reason shown as "no data: <reason>", not an abort.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::clients::prometheus::{PrometheusClient, RangeSeries, Sample};

/// When a query is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// Instant query at this time.
    At(DateTime<Utc>),
    /// Range query over `[start, end]` every `step` seconds.
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: u64,
    },
}

/// One query to run.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub expr: String,
    pub when: When,
}

/// What came back.
#[derive(Debug, Clone)]
pub enum QueryResult {
    Instant(Vec<Sample>),
    Range(Vec<RangeSeries>),
    /// Why there is nothing: the query failed or timed out.
    Failed(String),
}

impl QueryResult {
    pub fn failed(&self) -> Option<&str> {
        match self {
            Self::Failed(reason) => Some(reason),
            _ => None,
        }
    }
}

/// Substitutes `$__range` (PromQL duration), `$__range_s` (seconds) and `$__interval` (step).
pub fn expand(expr: &str, range: &str, range_seconds: i64, interval: &str) -> String {
    expr.replace("$__range_s", &range_seconds.to_string())
        .replace("$__range", range)
        .replace("$__interval", interval)
}

/// Runs every query, returning results in the order of `specs`.
pub async fn run_all(
    client: &PrometheusClient,
    specs: &[QuerySpec],
    parallelism: usize,
    timeout: Duration,
) -> Vec<QueryResult> {
    // Owned futures (no borrowed closure arguments) keep the stream `Send` for the scheduler.
    let futures: Vec<_> = specs
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, spec)| {
            let client = client.clone();
            async move {
                let outcome = tokio::time::timeout(timeout, run_one(&client, &spec)).await;
                let result = match outcome {
                    Ok(Ok(result)) => result,
                    Ok(Err(error)) => QueryResult::Failed(error.to_string()),
                    Err(_) => QueryResult::Failed(format!("query timed out after {}s", timeout.as_secs_f64())),
                };
                (index, result)
            }
        })
        .collect();
    let mut results: Vec<(usize, QueryResult)> = futures::stream::iter(futures)
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

async fn run_one(
    client: &PrometheusClient,
    spec: &QuerySpec,
) -> Result<QueryResult, crate::clients::prometheus::PrometheusError> {
    Ok(match spec.when {
        When::At(time) => QueryResult::Instant(client.query(&spec.expr, time).await?),
        When::Range { start, end, step } => QueryResult::Range(client.query_range(&spec.expr, start, end, step).await?),
    })
}

/// Fills `{{label}}` placeholders of a legend template from a series' labels; without a
/// template, the labels that differ are shown as `k=v`.
pub fn legend(template: Option<&str>, labels: &crate::clients::prometheus::Labels) -> String {
    match template {
        Some(template) => {
            // One pass over the template: a label value is inserted as it is, never read again
            // as a placeholder (`{{x}}` in a value stays `{{x}}`, `{{other}}` is not filled).
            let mut text = String::with_capacity(template.len());
            let mut rest = template;
            while let Some(start) = rest.find("{{") {
                text.push_str(&rest[..start]);
                let Some(len) = rest[start + 2..].find("}}") else {
                    rest = &rest[start..];
                    break;
                };
                // A label the series lacks renders as nothing, as in Grafana.
                if let Some(value) = labels.get(rest[start + 2..start + 2 + len].trim()) {
                    text.push_str(value);
                }
                rest = &rest[start + 2 + len + 2..];
            }
            text.push_str(rest);
            text.trim().to_string()
        }
        None => labels
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand() {
        assert_eq!(
            expand(
                "sum(increase(x[$__range])) / $__range_s + rate(y[$__interval])",
                "23h",
                82800,
                "5m"
            ),
            "sum(increase(x[23h])) / 82800 + rate(y[5m])"
        );
    }

    #[test]
    fn legends() {
        let labels = [("operation_type".to_string(), "search".to_string())]
            .into_iter()
            .collect();
        assert_eq!(legend(Some("{{operation_type}}"), &labels), "search");
        assert_eq!(legend(None, &labels), "operation_type=search");
        assert_eq!(legend(Some("{{q}}"), &labels), "", "missing labels render as nothing");
        let hostile: crate::clients::prometheus::Labels = [("name", "{{token}}"), ("token", "s3cr3t"), ("x", "{{x}}")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            legend(Some("{{name}}"), &hostile),
            "{{token}}",
            "values are not templates"
        );
        assert_eq!(legend(Some("{{ x }}/{{x}}"), &hostile), "{{x}}/{{x}}");
        assert_eq!(
            legend(Some("a {{x"), &hostile),
            "a {{x",
            "an unclosed placeholder stays"
        );
    }
}
