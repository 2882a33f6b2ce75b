//! The email: multipart/alternative(text, related(html, PNGs by Content-ID)) with a
//! Message-ID derived from job and day; and the `out/` writer used when no `[smtp]` is set.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, Utc};
use lettre::Message;
use lettre::address::AddressError;
use lettre::message::header::{ContentType, ContentTypeErr, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

/// An image attached inline.
#[derive(Debug, Clone)]
pub struct Image {
    /// Content-ID without brackets; also the file name in `out/`.
    pub cid: String,
    pub png: Vec<u8>,
}

/// What the email is made of.
#[derive(Debug, Clone)]
pub struct Email {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub images: Vec<Image>,
    pub job: String,
    pub day: NaiveDate,
    pub date: DateTime<Utc>,
    pub run_id: String,
}

/// `<report.<job>.<day>.<hash>@almanac>`: the same for every send of one job's report for one
/// day, so a retried or repeated send is recognisable (and deduplicated by many clients).
pub fn message_id(job: &str, day: NaiveDate, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "almanac.invalid".into());
    let digest = Sha256::digest(format!("{job}\n{day}").as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let safe: String = job
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    format!("<report.{safe}.{day}.{hash}@{domain}>")
}

/// Why the message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    #[error("invalid {what} address {text:?}")]
    Address {
        what: &'static str,
        text: String,
        #[source]
        source: AddressError,
    },
    #[error("invalid content type")]
    ContentType(#[from] ContentTypeErr),
    #[error("cannot build the email")]
    Build(#[from] lettre::error::Error),
}

fn mailbox(text: &str, what: &'static str) -> Result<Mailbox, MimeError> {
    text.parse().map_err(|source| MimeError::Address {
        what,
        text: text.to_string(),
        source,
    })
}

/// Builds the MIME message.
pub fn build(email: &Email) -> Result<Message, MimeError> {
    let mut builder = Message::builder()
        .from(mailbox(&email.from, "from")?)
        .subject(&email.subject)
        .date(SystemTime::from(email.date))
        .message_id(Some(message_id(&email.job, email.day, &email.from)));
    for to in &email.to {
        builder = builder.to(mailbox(to, "to")?);
    }
    for cc in &email.cc {
        builder = builder.cc(mailbox(cc, "cc")?);
    }
    let mut related = MultiPart::related().singlepart(SinglePart::html(email.html.clone()));
    let png = ContentType::parse("image/png")?;
    for image in &email.images {
        related = related.singlepart(
            Attachment::new_inline_with_name(image.cid.clone(), image.cid.clone()).body(image.png.clone(), png.clone()),
        );
    }
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(email.text.clone()))
        .multipart(related);
    let mut message = builder.multipart(body)?;
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-Almanac-Run-Id"),
        email.run_id.clone(),
    ));
    Ok(message)
}

/// Files written by [`write_out`].
#[derive(Debug, Clone)]
pub struct Written {
    pub eml: PathBuf,
    pub html: PathBuf,
    pub images: Vec<PathBuf>,
}

/// Writes `<dir>/<job>-<day>.eml` (the whole message), `<job>-<day>.html` (with `cid:`
/// references pointing at the PNG files beside it, so a browser shows it) and the PNGs.
pub fn write_out(dir: &Path, email: &Email, message: &Message) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let base = format!("{}-{}", email.job, email.day);
    let eml = dir.join(format!("{base}.eml"));
    std::fs::write(&eml, message.formatted())?;
    let mut html = email.html.clone();
    let mut images = Vec::new();
    for image in &email.images {
        let path = dir.join(&image.cid);
        std::fs::write(&path, &image.png)?;
        html = html.replace(&format!("cid:{}", image.cid), &image.cid);
        images.push(path);
    }
    let html_path = dir.join(format!("{base}.html"));
    std::fs::write(&html_path, html)?;
    Ok(Written {
        eml,
        html: html_path,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_depend_on_job_and_day_only() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let a = message_id("daily-report", day, "Monitoring <mon@aindusdb.com>");
        assert_eq!(a, message_id("daily-report", day, "Monitoring <mon@aindusdb.com>"));
        assert!(a.starts_with("<report.daily-report.2026-11-24.") && a.ends_with("@aindusdb.com>"));
        assert_ne!(
            a,
            message_id("daily-report", day.succ_opt().unwrap(), "mon@aindusdb.com")
        );
    }
}
