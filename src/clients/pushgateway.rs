//! Prometheus Pushgateway client: where each `almanac run` leaves its metrics (push with POST
//! or PUT semantics, delete a group) and where `almanac list` reads the last outcome back.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;

use super::http::{Auth, HttpClient, HttpError};
use crate::config::PushgatewayConfig;

/// How a push treats what the group already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMethod {
    /// POST: replaces only the metric families present in the body; the others stay.
    Post,
    /// PUT: replaces the whole group.
    Put,
}

/// The content type of the Prometheus text exposition format the pushes use.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug)]
pub struct Pushgateway {
    http: HttpClient,
}

/// One group as `GET /api/v1/metrics` returns it: its grouping labels and its families.
#[derive(Clone, Debug, Deserialize)]
pub struct Group {
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub families: BTreeMap<String, serde_json::Value>,
}

impl Group {
    /// The samples of one family: labels and value.
    pub fn samples(&self, family: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        #[derive(Deserialize)]
        struct Family {
            #[serde(default)]
            metrics: Vec<Sample>,
        }
        #[derive(Deserialize)]
        struct Sample {
            #[serde(default)]
            labels: BTreeMap<String, String>,
            value: Option<String>,
        }
        let Some(value) = self.families.get(family) else {
            return Vec::new();
        };
        let Ok(family) = serde_json::from_value::<Family>(value.clone()) else {
            return Vec::new();
        };
        family
            .metrics
            .into_iter()
            .filter_map(|sample| Some((sample.labels, sample.value?.parse().ok()?)))
            .collect()
    }
}

impl Pushgateway {
    pub fn new(config: &PushgatewayConfig) -> Result<Self, HttpError> {
        let auth = match &config.username {
            Some(username) => Auth::Basic {
                username: username.clone(),
                password: config.password.clone(),
            },
            None => Auth::None,
        };
        Ok(Self {
            http: HttpClient::build(&config.url.0, auth, config.timeout.as_std(), &config.tls())?,
        })
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    pub async fn ready(&self) -> Result<(), HttpError> {
        self.http
            .send(self.http.request(Method::GET, "-/ready"), "-/ready")
            .await
            .map(|_| ())
    }

    /// The path of the group whose only grouping label is `job`.
    fn group_path(job: &str) -> String {
        let encoded: String = job
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("metrics/job/{encoded}")
    }

    /// Pushes `body` (text exposition format) to the group `job=<job>`.
    pub async fn push(&self, job: &str, method: PushMethod, body: String) -> Result<(), HttpError> {
        let path = Self::group_path(job);
        let method = match method {
            PushMethod::Post => Method::POST,
            PushMethod::Put => Method::PUT,
        };
        let request = self
            .http
            .request(method, &path)
            .header(reqwest::header::CONTENT_TYPE, TEXT_FORMAT)
            .body(body);
        self.http.send(request, &path).await.map(|_| ())
    }

    /// Deletes the group `job=<job>` and everything in it.
    pub async fn delete(&self, job: &str) -> Result<(), HttpError> {
        let path = Self::group_path(job);
        self.http
            .send(self.http.request(Method::DELETE, &path), &path)
            .await
            .map(|_| ())
    }

    /// Every group the Pushgateway holds (`GET /api/v1/metrics`).
    pub async fn groups(&self) -> Result<Vec<Group>, HttpError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Vec<Group>,
        }
        let path = "api/v1/metrics";
        let answer: Answer = self.http.json(self.http.request(Method::GET, path), path).await?;
        Ok(answer.data)
    }
}
