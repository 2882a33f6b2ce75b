//! The TLS files of a section (`ca_file`, `client_cert_file`, `client_key_file`) read once and
//! handed to the HTTP clients: extra trusted CAs and the client identity for mutual TLS.

use std::path::Path;

use crate::config::TlsFiles;

/// A TLS file that cannot be used, named with the key it came from.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {key} {path}: {cause}")]
    Read {
        key: &'static str,
        path: String,
        cause: String,
    },
    #[error("{key} {path} holds no usable PEM ({what}): {cause}")]
    Invalid {
        key: &'static str,
        path: String,
        what: &'static str,
        cause: String,
    },
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|e| TlsFileError::Read {
        key,
        path: path.display().to_string(),
        cause: e.to_string(),
    })
}

/// The PEM bytes of `ca_file`, when set, checked to hold at least one certificate.
pub fn ca_pem(files: &TlsFiles) -> Result<Option<Vec<u8>>, TlsFileError> {
    let Some(path) = &files.ca_file else { return Ok(None) };
    let pem = read("ca_file", path)?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(TlsFileError::Invalid {
            key: "ca_file",
            path: path.display().to_string(),
            what: "certificate",
            cause: "no BEGIN CERTIFICATE block".into(),
        });
    }
    Ok(Some(pem))
}

/// A reqwest client builder trusting `ca_file` and presenting the client certificate.
pub fn configure(
    mut builder: reqwest::ClientBuilder,
    files: &TlsFiles,
) -> Result<reqwest::ClientBuilder, TlsFileError> {
    if let Some(pem) = ca_pem(files)? {
        let path = files.ca_file.as_deref().unwrap_or(Path::new(""));
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsFileError::Invalid {
            key: "ca_file",
            path: path.display().to_string(),
            what: "certificate",
            cause: e.to_string(),
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert_path), Some(key_path)) = (&files.client_cert_file, &files.client_key_file) {
        let mut pem = read("client_cert_file", cert_path)?;
        pem.push(b'\n');
        pem.extend(read("client_key_file", key_path)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| TlsFileError::Invalid {
            key: "client_cert_file",
            path: format!("{} (key {})", cert_path.display(), key_path.display()),
            what: "certificate and private key",
            cause: e.to_string(),
        })?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_with_its_key() {
        let files = TlsFiles {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsFiles::default()
        };
        let error = ca_pem(&files).unwrap_err().to_string();
        assert!(error.starts_with("cannot read ca_file /nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn a_file_without_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let files = TlsFiles {
            ca_file: Some(path),
            ..TlsFiles::default()
        };
        let error = configure(reqwest::Client::builder(), &files).unwrap_err().to_string();
        assert!(
            error.contains("ca_file") && error.contains("no BEGIN CERTIFICATE"),
            "{error}"
        );
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("client.pem");
        let key = dir.path().join("client.key");
        std::fs::write(&cert, "garbage").unwrap();
        std::fs::write(&key, "garbage").unwrap();
        let files = TlsFiles {
            client_cert_file: Some(cert),
            client_key_file: Some(key),
            ..TlsFiles::default()
        };
        let error = configure(reqwest::Client::builder(), &files).unwrap_err().to_string();
        assert!(error.contains("client.pem") && error.contains("client.key"), "{error}");
    }
}
