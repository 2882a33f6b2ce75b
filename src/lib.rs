//! almanac runs the scheduled reporting and retention maintenance of a monitoring stack
//! (Prometheus, Elasticsearch/OpenSearch, S3, SMTP). See ARCHITECTURE.md for the data flow.

pub mod cli;
pub mod clients;
pub mod config;
pub mod jobs;
pub mod k8s;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod push;
pub mod runner;
pub mod scheduler;

/// Version with build information (git commit and its date, set by build.rs), as
/// `almanac --version` prints it: `0.1.0 (commit 0123abcd4567, 2026-11-25)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ALMANAC_GIT_COMMIT"),
    ", ",
    env!("ALMANAC_BUILD_DATE"),
    ")"
);
