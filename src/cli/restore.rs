//! `almanac restore`: the subcommand's body around `jobs::log_retention::restore`: it
//! prints the result and turns it into an exit code.

use std::io::IsTerminal as _;
use std::sync::Arc;

use super::RestoreArgs;
use crate::jobs::log_retention::restore::{RestoreOutcome, restore};
use crate::jobs::{Config, JobError};
use crate::runner::exit;

/// `almanac restore`: prints the result; exit 0 restored, 1 failed or waiting for Glacier, 2 usage.
pub async fn run(config: Arc<Config>, args: &RestoreArgs, quiet: bool) -> u8 {
    let progress = !quiet && std::io::stderr().is_terminal();
    match restore(
        config,
        args.job.as_deref(),
        &args.index,
        args.as_name.as_deref(),
        args.force,
        progress,
    )
    .await
    {
        Ok(RestoreOutcome::Restored { index, docs }) => {
            println!("restored {index}: {docs} documents");
            exit::SUCCESS
        }
        Ok(RestoreOutcome::Requested { message }) => {
            println!("{message}");
            exit::JOB_FAILED
        }
        Err(JobError::Usage(message)) => {
            eprintln!("almanac: {message}");
            exit::USAGE
        }
        Err(error) => {
            eprintln!("almanac: restore of {} failed: {error}", args.index);
            exit::JOB_FAILED
        }
    }
}
