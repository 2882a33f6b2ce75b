//! Elasticsearch / OpenSearch client: only APIs both share (ES 7/8, OpenSearch 1/2).

use reqwest::Method;
use serde::Deserialize;

use super::http::{HttpClient, HttpError};
use crate::config::HttpEndpoint;

#[derive(Clone, Debug)]
pub struct SearchClient {
    http: HttpClient,
}

impl SearchClient {
    pub fn new(endpoint: &HttpEndpoint) -> Result<Self, HttpError> {
        Ok(Self {
            http: HttpClient::new(endpoint)?,
        })
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /`: distribution and version, e.g. `opensearch 2.19.6`.
    pub async fn info(&self) -> Result<String, HttpError> {
        #[derive(Deserialize)]
        struct Version {
            number: String,
            #[serde(default)]
            distribution: Option<String>,
        }
        #[derive(Deserialize)]
        struct Info {
            version: Version,
        }
        let info: Info = self.http.json(self.http.request(Method::GET, "/"), "/").await?;
        Ok(format!(
            "{} {}",
            info.version.distribution.unwrap_or_else(|| "elasticsearch".into()),
            info.version.number
        ))
    }
}
