//! The `log-retention` job: daily indices through hot → warm → S3 → Glacier → gone.
//! `plan.rs` decides (pure), `execute.rs` gathers and acts; settings, tiers, export,
//! archive, manifest, lock and restore have their own files.

pub mod archive;
mod batch;
pub mod checks;
pub mod delete_queue;
pub mod execute;
pub mod export;
pub mod folders;
pub mod group;
pub mod lock;
pub mod manifest;
pub mod ndjson;
mod part;
pub mod placement;
pub mod plan;
pub mod restore;
mod settings;
mod steps;
pub mod tiers;

pub use self::execute::{execute, plan};
pub use self::plan::{ArchiveState, Plan, Row};
pub use self::settings::{AgeFrom, Settings, Transition, Verify, check_config};
pub use self::steps::{expire, transition, warm};
use crate::config::Section;

/// Connection sections this kind needs.
pub const REQUIRES: &[Section] = &[Section::Search, Section::S3];
