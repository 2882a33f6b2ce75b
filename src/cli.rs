//! The command line: one enum of subcommands, each with a `run` that returns an exit code
//! (0 success, 1 job failed, 2 usage or configuration error).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::jobs::RunOptions;
use crate::logging::{self, LogFormat};
use crate::output::{OutputFormat, Table};
use crate::runner::{self, exit};

const AFTER_HELP: &str = "Exit codes: 0 success, 1 job failed (or finished partly), 2 usage or configuration error.";

#[derive(Debug, Parser)]
#[command(name = "almanac", version = crate::VERSION, about = "Scheduled reporting and retention jobs for a Prometheus, OpenSearch, S3 and SMTP monitoring stack", after_help = AFTER_HELP)]
pub struct Cli {
    /// The jobs file.
    #[arg(long, global = true, env = "ALMANAC_CONFIG", default_value = "jobs.toml")]
    pub config: PathBuf,
    /// Log format on stderr (auto: JSON when stderr is not a terminal).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// Only warnings and errors in the logs, no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job once, now (what a Kubernetes CronJob calls).
    Run(RunArgs),
    /// Run every enabled job on its schedule until SIGTERM/SIGINT.
    Serve(ServeArgs),
    /// Show each job, its schedule and time zone, and its next runs.
    List(ListArgs),
    /// Check the configuration without touching any server (or with --connect, check each answers).
    Validate(ValidateArgs),
    /// Recreate an archived log index from S3 (manifest mapping and settings, then its documents).
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The archived index, e.g. aindusdb-logs-2026.01.05.
    pub index: String,
    /// Restore under another name (the original may still exist).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// The log-retention job whose archive to use (needed only when there are several).
    #[arg(long)]
    pub job: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Name of the job: a [jobs.<name>] table.
    pub job: String,
    /// Print the plan and do nothing else.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The clock for every time-relative decision (RFC 3339), for reproducible runs.
    #[arg(long, env = "ALMANAC_NOW", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// Report jobs: the day to report on (default: yesterday in the job's time zone).
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// Go past safety limits such as max_series_per_run.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address for /healthz and /metrics (overrides [serve] listen).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Compute next runs from this time instead of the current time (RFC 3339).
    #[arg(long, env = "ALMANAC_NOW", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// How many next runs to show per job.
    #[arg(long, default_value_t = 3)]
    pub next: usize,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Also check that each configured server answers.
    #[arg(long)]
    pub connect: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}: expected RFC 3339, e.g. 2026-11-25T06:00:00Z"))
}

/// Parses the command line and runs it. This is all `main` does.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("almanac: cannot start the async runtime: {error}");
            return ExitCode::from(exit::JOB_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(cli.run()))
}

impl Cli {
    pub async fn run(self) -> u8 {
        let config = match config::load(&self.config) {
            Ok(config) => Arc::new(config),
            Err(error) => {
                eprintln!("almanac: {error}");
                return exit::USAGE;
            }
        };
        match self.command {
            Command::Run(args) => run(config, args, self.quiet).await,
            Command::Serve(args) => match crate::scheduler::serve(config, args.listen).await {
                Ok(()) => exit::SUCCESS,
                Err(error) => {
                    eprintln!("almanac: {error:#}");
                    exit::JOB_FAILED
                }
            },
            Command::List(args) => list(&config, &args),
            Command::Validate(args) => validate(&config, &args).await,
            Command::Restore(args) => crate::jobs::log_retention::restore::run_cli(config, &args, self.quiet).await,
        }
    }
}

async fn run(config: Arc<Config>, args: RunArgs, quiet: bool) -> u8 {
    use std::io::IsTerminal;
    let options = RunOptions {
        dry_run: args.dry_run,
        output: args.output,
        date: args.date,
        force: args.force,
        progress: !quiet && std::io::stderr().is_terminal(),
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        crate::scheduler::shutdown_signal().await;
        tracing::warn!(message = "signal received, cancelling the run");
        on_signal.cancel();
    });
    let now = args.now.unwrap_or_else(Utc::now);
    let report = match runner::run_job(config, &args.job, options, now, cancel).await {
        Ok(report) => report,
        Err(message) => {
            eprintln!("almanac: {message}");
            return exit::USAGE;
        }
    };
    if !(args.dry_run && args.output == OutputFormat::Json) {
        let mut stdout = std::io::stdout().lock();
        let _ = match args.output {
            OutputFormat::Json => writeln!(stdout, "{}", report.to_json()),
            OutputFormat::Text if !args.dry_run => write!(stdout, "{}", report.to_text()),
            OutputFormat::Text => Ok(()),
        };
    }
    report.exit_code()
}

/// Next run times of every job, in each job's own time zone.
pub fn next_runs(config: &Config, now: DateTime<Utc>, count: usize) -> Vec<serde_json::Value> {
    config
        .jobs
        .values()
        .map(|job| {
            let local_now = now.with_timezone(&job.timezone.0);
            let next: Vec<String> = job
                .schedule
                .next_after(&local_now, count)
                .iter()
                .map(|t| t.to_rfc3339())
                .collect();
            serde_json::json!({
                "job": job.name,
                "kind": job.kind.name(),
                "schedule": job.schedule.as_str(),
                "timezone": job.timezone.to_string(),
                "enabled": job.enabled,
                "next_runs": next,
            })
        })
        .collect()
}

fn list(config: &Config, args: &ListArgs) -> u8 {
    let now = args.now.unwrap_or_else(Utc::now);
    let jobs = next_runs(config, now, args.next);
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::Value::Array(jobs)),
        OutputFormat::Text => {
            let mut table = Table::new(["JOB", "KIND", "SCHEDULE", "TIMEZONE", "NEXT RUNS"]);
            for job in &jobs {
                let next: Vec<String> = job["next_runs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| DateTime::parse_from_rfc3339(t.as_str()?).ok())
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S %:z").to_string())
                    .collect();
                let mut name = job["job"].as_str().unwrap_or_default().to_string();
                if job["enabled"] == false {
                    name.push_str(" (disabled)");
                }
                table.row([
                    name,
                    job["kind"].as_str().unwrap_or_default().to_string(),
                    job["schedule"].as_str().unwrap_or_default().to_string(),
                    job["timezone"].as_str().unwrap_or_default().to_string(),
                    next.join(", "),
                ]);
            }
            print!("{}", table.render());
        }
    }
    exit::SUCCESS
}

async fn validate(config: &Config, args: &ValidateArgs) -> u8 {
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
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"file": config.file, "ok": failed == 0, "jobs": names, "servers": checks})
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
