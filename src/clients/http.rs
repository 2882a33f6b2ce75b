//! The HTTP plumbing shared by the Prometheus, search and Pushgateway clients: one reqwest
//! client per server with its timeout, CA and auth, and errors that classify themselves.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, Url};

use crate::clients::error::Transience;
use crate::config::{HttpEndpoint, Secret};

/// How requests authenticate.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic { username: String, password: Option<Secret> },
    Bearer(Secret),
    ApiKey(Secret),
}

impl Auth {
    pub fn from_endpoint(endpoint: &HttpEndpoint) -> Self {
        if let Some(token) = &endpoint.bearer_token {
            Self::Bearer(token.clone())
        } else if let Some(key) = &endpoint.api_key {
            Self::ApiKey(key.clone())
        } else if let Some(username) = &endpoint.username {
            Self::Basic {
                username: username.clone(),
                password: endpoint.password.clone(),
            }
        } else {
            Self::None
        }
    }

    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::None => request,
            Self::Basic { username, password } => request.basic_auth(username, password.as_ref().map(Secret::expose)),
            Self::Bearer(token) => request.bearer_auth(token.expose()),
            Self::ApiKey(key) => {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("ApiKey {}", key.expose()))
                    .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("ApiKey invalid"));
                value.set_sensitive(true);
                request.header(reqwest::header::AUTHORIZATION, value)
            }
        }
    }
}

/// A failed HTTP exchange. Messages name the server (without credentials) and what to check.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot build an HTTP client for {url}: {message}")]
    Setup { url: String, message: String },
    #[error("cannot reach {url}: {source}")]
    Connect { url: String, source: reqwest::Error },
    #[error("{url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url} answered {status}: {body}{hint}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
        hint: &'static str,
    },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
}

impl HttpError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Transience for HttpError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS,
            Self::Setup { .. } | Self::Decode { .. } => false,
        }
    }
}

/// A client bound to one server's base URL.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    base: Url,
    auth: Auth,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(endpoint: &HttpEndpoint) -> Result<Self, HttpError> {
        Self::build(
            &endpoint.url.0,
            Auth::from_endpoint(endpoint),
            endpoint.timeout.as_std(),
            endpoint.ca_file.as_deref(),
        )
    }

    pub fn build(
        base: &Url,
        auth: Auth,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, HttpError> {
        let shown = redact(base);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("almanac/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout);
        if let Some(ca_file) = ca_file {
            let pem = std::fs::read(ca_file).map_err(|e| HttpError::Setup {
                url: shown.clone(),
                message: format!("cannot read CA file {}: {e}", ca_file.display()),
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpError::Setup {
                url: shown.clone(),
                message: format!("invalid CA file {}: {e}", ca_file.display()),
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let inner = builder.build().map_err(|e| HttpError::Setup {
            url: shown,
            message: e.to_string(),
        })?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            inner,
            base,
            auth,
            timeout,
        })
    }

    /// The URL of `path` (relative to the base URL, leading `/` allowed).
    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base.clone())
    }

    /// The base URL with any password hidden, for messages.
    pub fn shown_url(&self, path: &str) -> String {
        redact(&self.url(path))
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.auth.apply(self.inner.request(method, self.url(path)))
    }

    /// Sends a request and returns the response if its status is a success.
    pub async fn send(&self, request: RequestBuilder, path: &str) -> Result<reqwest::Response, HttpError> {
        let url = self.shown_url(path);
        let response = request.send().await.map_err(|e| self.transport_error(url.clone(), e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let hint = match status.as_u16() {
            401 => " (check the credentials in jobs.toml)",
            403 => " (the credentials lack a permission)",
            _ => "",
        };
        Err(HttpError::Status {
            url,
            status,
            body: truncate(&body, 500),
            hint,
        })
    }

    /// Sends a request and decodes a JSON body.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        path: &str,
    ) -> Result<T, HttpError> {
        let response = self.send(request, path).await?;
        let url = self.shown_url(path);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(url.clone(), e))?;
        serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode {
            url,
            message: format!("{e}: {}", truncate(&String::from_utf8_lossy(&bytes), 200)),
        })
    }

    pub fn transport_error(&self, url: String, error: reqwest::Error) -> HttpError {
        if error.is_timeout() {
            HttpError::Timeout {
                url,
                timeout: self.timeout,
            }
        } else {
            HttpError::Connect {
                url,
                source: error.without_url(),
            }
        }
    }
}

/// A URL without its password.
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    url.to_string()
}

pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
