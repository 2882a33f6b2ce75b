//! Log setup: JSON lines on stderr when it is not a terminal (Kubernetes) or with
//! `--log-format json`, human-readable otherwise. Level from `ALMANAC_LOG`, default `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, text otherwise.
    #[default]
    Auto,
    Text,
    Json,
}

pub fn init(format: LogFormat, quiet: bool) {
    // --quiet wins over ALMANAC_LOG: a quiet cron job logs warnings and errors only.
    let filter = if quiet {
        EnvFilter::new("warn")
    } else {
        EnvFilter::try_from_env("ALMANAC_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let json = match format {
        LogFormat::Auto => !std::io::stderr().is_terminal(),
        LogFormat::Text => false,
        LogFormat::Json => true,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
