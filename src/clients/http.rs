//! The HTTP plumbing shared by the Prometheus, search and Pushgateway clients: one reqwest
//! client per server with its timeout, CA and auth, and errors that classify themselves.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, Url};

use crate::clients::error::Transience;
use crate::config::{HttpEndpoint, Secret, TlsFiles};

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
    /// No answer (refused, reset, DNS): may go away, retried. `cause` is the whole chain of
    /// causes, each once.
    #[error("cannot reach {url}: {cause}")]
    Connect { url: String, cause: String },
    /// The TLS handshake failed (unknown CA, wrong name, expired certificate): a retry will
    /// not fix it.
    #[error("TLS with {url} failed: {cause} ({hint})")]
    Tls {
        url: String,
        cause: String,
        hint: &'static str,
    },
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
            Self::Setup { .. } | Self::Decode { .. } | Self::Tls { .. } => false,
        }
    }
}

/// A client bound to one server's base URL. Its Debug shows the URL without credentials.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    base: Url,
    auth: Auth,
    timeout: Duration,
    /// Whether a client certificate is configured (for the hint on a refused handshake).
    client_certificate: bool,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base", &redact(&self.base))
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpClient {
    pub fn new(endpoint: &HttpEndpoint) -> Result<Self, HttpError> {
        Self::build_with(
            &endpoint.url.0,
            Auth::from_endpoint(endpoint),
            endpoint.timeout.as_std(),
            &endpoint.tls(),
            endpoint.compression.wanted(&endpoint.url.0),
        )
    }

    /// A client with `compression = "auto"`.
    pub fn build(base: &Url, auth: Auth, timeout: Duration, tls: &TlsFiles) -> Result<Self, HttpError> {
        Self::build_with(base, auth, timeout, tls, crate::config::Compression::Auto.wanted(base))
    }

    /// `compress`: ask for gzip-compressed answers.
    pub fn build_with(
        base: &Url,
        auth: Auth,
        timeout: Duration,
        tls: &TlsFiles,
        compress: bool,
    ) -> Result<Self, HttpError> {
        let shown = redact(base);
        let builder = reqwest::Client::builder()
            .gzip(compress)
            .user_agent(concat!("almanac/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout);
        let builder = super::tls::configure(builder, tls).map_err(|e| HttpError::Setup {
            url: shown.clone(),
            message: e.to_string(),
        })?;
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
            client_certificate: tls.client_cert_file.is_some(),
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
            let mut cause = cause_chain(&error.without_url());
            if is_tls_failure(&cause) {
                let hint = tls_hint(&cause, self.client_certificate);
                HttpError::Tls { url, cause, hint }
            } else {
                // A server that requires a client certificate closes the connection right
                // after the TLS 1.3 handshake; a restart looks the same, so it stays
                // retryable, with the hint.
                if self.base.scheme() == "https" && !self.client_certificate && cause.ends_with("connection closed") {
                    cause.push_str(
                        " (if the server requires a client certificate, set client_cert_file and client_key_file)",
                    );
                }
                HttpError::Connect { url, cause }
            }
        }
    }
}

/// An error and its sources as one line, each distinct message once (reqwest and hyper
/// repeat their source's text in their own).
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

/// Whether a transport failure is about TLS (certificates, handshake), not reachability.
pub fn is_tls_failure(cause: &str) -> bool {
    let cause = cause.to_ascii_lowercase();
    [
        "certificate",
        "unknownissuer",
        "tls handshake",
        "handshake failure",
        "invalid peer",
    ]
    .iter()
    .any(|needle| cause.contains(needle))
}

/// What to set after a failed handshake. A fatal alert *received* means the server refused
/// us: with TLS 1.3 a server that wants a client certificate may say so with an alert
/// (`CertificateRequired`, `BadCertificate`) or just close the connection, whichever the
/// timing gives; both name the same settings.
pub fn tls_hint(cause: &str, client_certificate: bool) -> &'static str {
    let cause = cause.to_ascii_lowercase();
    let server_refused_us = cause.contains("received fatal alert")
        && [
            "badcertificate",
            "certificaterequired",
            "unknownca",
            "certificateunknown",
        ]
        .iter()
        .any(|alert| cause.contains(alert));
    match (server_refused_us, client_certificate) {
        (true, false) => "the server requires a client certificate: set client_cert_file and client_key_file",
        (true, true) => {
            "the server refused the client certificate: check that client_cert_file is signed by a CA the server trusts and has not expired"
        }
        (false, _) => {
            "check the server's certificate; set ca_file to the CA that signed it, or client_cert_file/client_key_file if it asks for one"
        }
    }
}

/// A URL as almanac shows it anywhere: `config::shown_url`, the one redaction rule.
pub fn redact(url: &Url) -> String {
    crate::config::shown_url(url)
}

pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let error = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect): invalid peer certificate: UnknownIssuer",
                Some(Box::new(Layer("invalid peer certificate: UnknownIssuer", None))),
            ))),
        );
        let chain = cause_chain(&error);
        assert_eq!(
            chain,
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
        );
        assert!(is_tls_failure(&chain));
        assert!(!is_tls_failure(
            "error sending request: Connection refused (os error 111)"
        ));
    }

    #[test]
    fn a_server_asking_for_a_client_certificate_names_the_settings_however_it_refuses() {
        let alert =
            "error sending request: client error (SendRequest): connection error: received fatal alert: BadCertificate";
        assert!(is_tls_failure(alert));
        assert!(tls_hint(alert, false).contains("set client_cert_file and client_key_file"));
        let required = "connection error: received fatal alert: CertificateRequired";
        assert!(tls_hint(required, false).contains("set client_cert_file and client_key_file"));
        assert!(tls_hint(alert, true).contains("refused the client certificate"));
        // Our side rejecting the server's certificate is about ca_file.
        let unknown = "client error (Connect): invalid peer certificate: UnknownIssuer";
        assert!(tls_hint(unknown, false).contains("set ca_file"));
    }

    #[test]
    fn shown_urls_carry_no_credentials() {
        let url = Url::parse("https://user:s3cret@es.example:9200/logs?api_key=abc#frag").unwrap();
        assert_eq!(redact(&url), "https://es.example:9200/logs");
        assert_eq!(
            crate::config::shown_url_text("http://u:p@host:9200/x?k=v"),
            "http://…@host:9200/x"
        );
    }
}
