//! almanac runs the scheduled reporting and retention maintenance of a monitoring stack
//! (Prometheus, Elasticsearch/OpenSearch, S3, SMTP). See ARCHITECTURE.md for the data flow.

pub mod cli;
pub mod clients;
pub mod config;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod retention;
pub mod runner;
pub mod scheduler;

/// Version with build information, as `almanac --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
