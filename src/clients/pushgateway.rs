//! Prometheus Pushgateway client: where each `almanac run` leaves its metrics.

use reqwest::Method;

use super::http::{Auth, HttpClient, HttpError};
use crate::config::PushgatewayConfig;

#[derive(Clone, Debug)]
pub struct Pushgateway {
    http: HttpClient,
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
            http: HttpClient::build(&config.url.0, auth, config.timeout.as_std(), None)?,
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
}
