//! `almanac validate [--connect]`: the configuration is read (exit 2 on any mistake); with
//! `--connect`, every server must answer, and log-retention jobs get their archive warnings.

use super::ValidateArgs;
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;
use crate::jobs::log_retention::checks::source_loss;
use crate::jobs::{Config, JobKind};
use crate::output::{OutputFormat, Table};
use crate::runner::exit;

pub async fn run(config: &Config, args: &ValidateArgs) -> u8 {
    let names: Vec<&str> = config.jobs.keys().map(String::as_str).collect();
    if !args.connect {
        match args.output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::json!({"file": config.file, "ok": true, "jobs": names})
            ),
            OutputFormat::Text => println!(
                "{}: OK, {} job(s): {}",
                config.file.display(),
                names.len(),
                names.join(", ")
            ),
        }
        return exit::SUCCESS;
    }
    let checks = crate::clients::check_all(config).await;
    let failed = checks.iter().filter(|c| !c.ok).count();
    let warnings = if failed == 0 {
        archive_warnings(config).await
    } else {
        Vec::new()
    };
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"file": config.file, "ok": failed == 0, "jobs": names, "servers": checks, "warnings": warnings})
        ),
        OutputFormat::Text => {
            let mut table = Table::new(["SECTION", "SERVER", "STATUS", "DETAIL"]);
            for check in &checks {
                table.row([
                    check.section.to_string(),
                    check.target.clone(),
                    if check.ok { "ok".into() } else { "FAILED".to_string() },
                    check.detail.clone(),
                ]);
            }
            print!("{}", table.render());
            for warning in &warnings {
                println!("warning: {warning}");
            }
            println!(
                "{}: configuration OK, {} of {} server(s) answered",
                config.file.display(),
                checks.len() - failed,
                checks.len()
            );
        }
    }
    if failed == 0 { exit::SUCCESS } else { exit::JOB_FAILED }
}

/// What a log-retention job could not archive or clean up, found on the live servers:
/// indices whose `_source` would not come back, a bucket without a rule that removes
/// abandoned multipart uploads.
async fn archive_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let (Some(search), Some(s3)) = (&config.search, &config.s3) else {
        return warnings;
    };
    for job in config.jobs.values() {
        let JobKind::LogRetention(settings) = &job.kind else {
            continue;
        };
        let prefix = settings.listing_prefix();
        if let Ok(client) = SearchClient::new(search)
            && let (Ok(mappings), Ok(index_settings)) =
                (client.mappings_all(&prefix).await, client.settings_all(&prefix).await)
        {
            for (index, mapping) in &mappings {
                let empty = serde_json::Map::new();
                let flat = index_settings.get(index).unwrap_or(&empty);
                if let Some(loss) = source_loss(mapping, flat) {
                    let what = if settings.allow_rebuilt_source {
                        "archived anyway (allow_rebuilt_source = true)"
                    } else {
                        "kept in the cluster, not archived"
                    };
                    warnings.push(format!("job {}: {index}: {loss}; it will be {what}", job.name));
                }
            }
        }
        // An unusable ca_file is already reported by the reachability check.
        let Ok(mut store) = ArchiveStore::new(s3).await else {
            continue;
        };
        store.prefix = settings.prefix_in(s3).to_string();
        let prefix = store.key("");
        match store.lifecycle_rules().await {
            Ok(rules) if rules.iter().any(|r| r.covers(&prefix) && r.aborts_incomplete_uploads) => {}
            Ok(_) => warnings.push(format!(
                "job {}: bucket {} has no lifecycle rule with AbortIncompleteMultipartUpload covering {}: \
                 uploads of a killed run stay (and are billed) until the next run of that index; see docs/operating.md",
                job.name,
                store.bucket,
                store.key("")
            )),
            Err(error) => warnings.push(format!(
                "job {}: cannot read the bucket's lifecycle rules: {error}",
                job.name
            )),
        }
    }
    warnings
}
