//! One client per external system. Each turns transport and protocol failures into typed
//! errors that say whether a retry can help, and never puts a secret in a message.

pub mod error;
pub mod http;
pub mod mail;
pub mod percent;
pub mod prometheus;
pub mod pushgateway;
pub mod remote_write;
pub mod s3;
pub mod search;
pub mod tls;

use crate::config::Config;

/// Result of `validate --connect` for one configured server.
#[derive(Debug, serde::Serialize)]
pub struct Reachability {
    pub section: &'static str,
    pub target: String,
    pub ok: bool,
    pub detail: String,
}

/// Checks that every configured server answers, concurrently.
pub async fn check_all<K>(config: &Config<K>) -> Vec<Reachability> {
    let mut checks: Vec<futures::future::BoxFuture<'_, Reachability>> = Vec::new();
    if let Some(endpoint) = &config.prometheus {
        checks.push(Box::pin(async move {
            let result = async { prometheus::PrometheusClient::new(endpoint)?.build_info().await }.await;
            outcome(
                "prometheus",
                endpoint.url.to_string(),
                result.map(|info| format!("version {info}")),
            )
        }));
    }
    if let Some(endpoint) = &config.search {
        checks.push(Box::pin(async move {
            let result = async { search::SearchClient::new(endpoint)?.info().await }.await;
            outcome("search", endpoint.url.to_string(), result)
        }));
    }
    if let Some(s3) = &config.s3 {
        checks.push(Box::pin(async move {
            let target = format!("s3://{}/{}", s3.bucket, s3.prefix);
            let result = match s3::ArchiveStore::new(s3).await {
                Ok(store) => store.check_listable().await,
                Err(error) => Err(error),
            };
            outcome("s3", target, result.map(|()| "archive prefix listable".to_string()))
        }));
    }
    if let Some(smtp) = &config.smtp {
        checks.push(Box::pin(async move {
            let target = format!("{}:{}", smtp.host, smtp.port());
            outcome(
                "smtp",
                target,
                mail::check_connection(smtp)
                    .await
                    .map(|()| "server accepted the connection".to_string()),
            )
        }));
    }
    if let Some(gateway) = &config.pushgateway {
        checks.push(Box::pin(async move {
            let result = pushgateway::Pushgateway::new(gateway).map(|client| async move { client.ready().await });
            let result = match result {
                Ok(ready) => ready.await,
                Err(error) => Err(error),
            };
            outcome(
                "pushgateway",
                gateway.url.to_string(),
                result.map(|()| "ready".to_string()),
            )
        }));
    }
    futures::future::join_all(checks).await
}

fn outcome<E: std::fmt::Display>(section: &'static str, target: String, result: Result<String, E>) -> Reachability {
    match result {
        Ok(detail) => Reachability {
            section,
            target,
            ok: true,
            detail,
        },
        Err(error) => Reachability {
            section,
            target,
            ok: false,
            detail: error.to_string(),
        },
    }
}
