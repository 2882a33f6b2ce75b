//! SMTP transport (lettre) built from `[smtp]`: STARTTLS, implicit TLS or plain, AUTH from
//! the environment or a secret file, extra CA certificates.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpTls};

/// Builds the transport for `config`.
pub fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(config.host.clone());
    if let Some(ca_file) = &config.ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| format!("cannot read smtp.ca_file {}: {e}", ca_file.display()))?;
        let cert =
            Certificate::from_pem(&pem).map_err(|e| format!("invalid smtp.ca_file {}: {e}", ca_file.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build().map_err(|e| format!("TLS setup for {}: {e}", config.host))?;
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
pub async fn check_connection(config: &SmtpConfig) -> Result<(), String> {
    let transport = transport(config)?;
    match transport.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err("the server did not accept the connection".into()),
        Err(error) => Err(error.to_string()),
    }
}
