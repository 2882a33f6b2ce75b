//! SMTP transport (lettre) built from `[smtp]`: STARTTLS, implicit TLS or plain, AUTH from
//! the environment or a secret file, extra CA certificates.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpTls};

/// Why the transport cannot be built from `[smtp]`.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("[smtp] {0}")]
    CaFile(#[from] crate::clients::tls::TlsFileError),
    #[error("[smtp] ca_file {path}: {cause}")]
    Certificate { path: String, cause: String },
    #[error("TLS setup for {host}: {cause}")]
    Tls { host: String, cause: String },
}

/// Builds the transport for `config`.
pub fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SetupError> {
    let mut tls = TlsParameters::builder(config.host.clone());
    let files = crate::config::TlsFiles {
        ca_file: config.ca_file.clone(),
        ..Default::default()
    };
    if let Some(pem) = crate::clients::tls::ca_pem(&files)? {
        let cert = Certificate::from_pem(&pem).map_err(|e| SetupError::Certificate {
            path: files
                .ca_file
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
                .to_string(),
            cause: e.to_string(),
        })?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build().map_err(|e| SetupError::Tls {
        host: config.host.clone(),
        cause: e.to_string(),
    })?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port())
        .timeout(Some(config.timeout.as_std()))
        .tls(match config.tls {
            SmtpTls::Starttls => Tls::Required(tls),
            SmtpTls::Implicit => Tls::Wrapper(tls),
            SmtpTls::None => Tls::None,
        });
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(username.clone(), password.expose().to_string()));
    }
    Ok(builder.build())
}

/// Connects (and negotiates TLS) without sending anything.
pub async fn check_connection(config: &SmtpConfig) -> Result<(), SendError> {
    let transport = transport(config)?;
    let server = format!("{}:{}", config.host, config.port());
    match transport.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(SendError::Connection {
            server,
            message: "the server did not accept the connection".into(),
        }),
        Err(error) => Err(SendError::transport(server, &error)),
    }
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The transport could not be built from `[smtp]`.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The server refused for good (5xx): retrying would not help.
    #[error("SMTP server {server} refused the email permanently: {message}")]
    Permanent { server: String, message: String },
    /// Temporary refusals (4xx) until the attempts ran out.
    #[error("SMTP server {server} refused the email temporarily {attempts} times: {message}")]
    Temporary {
        server: String,
        attempts: u32,
        message: String,
    },
    /// No answer or connection failure.
    #[error("cannot reach SMTP server {server}: {message}")]
    Connection { server: String, message: String },
    /// The TLS handshake failed (certificate not trusted, wrong name): not retried.
    #[error(
        "TLS with SMTP server {server} failed: {message} (check its certificate; set ca_file in [smtp] to the CA that signed it)"
    )]
    Tls { server: String, message: String },
}

impl SendError {
    /// A transport failure: TLS (permanent) or connection (may go away).
    fn transport(server: String, error: &lettre::transport::smtp::Error) -> Self {
        let message = crate::clients::http::cause_chain(error);
        if error.is_tls() || crate::clients::http::is_tls_failure(&message) {
            Self::Tls { server, message }
        } else {
            Self::Connection { server, message }
        }
    }
}

impl crate::clients::error::Transience for SendError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Connection { .. })
    }
}

/// Sends `message`, retrying temporary (4xx) refusals up to `attempts` times with `backoff`
/// doubling between tries; permanent (5xx) refusals are not retried. Returns the attempts used.
pub async fn send_with_retries(
    config: &SmtpConfig,
    message: lettre::Message,
    attempts: u32,
    backoff: std::time::Duration,
) -> Result<u32, SendError> {
    use lettre::AsyncTransport;
    let server = format!("{}:{}", config.host, config.port());
    let transport = transport(config)?;
    let mut delay = backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match transport.send(message.clone()).await {
            Ok(_) => return Ok(attempt),
            Err(error) if error.is_permanent() => {
                return Err(SendError::Permanent {
                    server,
                    message: error.to_string(),
                });
            }
            Err(error) if error.is_transient() => {
                if attempt >= attempts.max(1) {
                    return Err(SendError::Temporary {
                        server,
                        attempts: attempt,
                        message: error.to_string(),
                    });
                }
                tracing::warn!(message = "SMTP temporary refusal, retrying", %error, attempt, delay_seconds = delay.as_secs_f64());
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(error) => return Err(SendError::transport(server, &error)),
        }
    }
}
