//! The command line: one enum of subcommands, each with a `run` that returns an exit code
//! (0 success, 1 job failed, 2 usage or configuration error).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, JobKinds as _};
use crate::jobs::{self, Config, RunOptions};
use crate::logging::{self, LogFormat};
use crate::output::{OutputFormat, Table};
use crate::runner::{self, exit};

mod restore;
mod validate;

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
    /// Write Kubernetes manifests from jobs.toml: one CronJob per job and the ConfigMap.
    K8s(K8sArgs),
    /// Recreate an archived log index from S3 (manifest mapping and settings, then its documents).
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct K8sArgs {
    /// Container image of the CronJobs (default: almanac:<version>).
    #[arg(long)]
    pub image: Option<String>,
    /// Folder to write the manifests into (stale generated files there are removed);
    /// without it, all manifests go to stdout as one multi-document YAML stream.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Namespace of the generated objects (default: none, i.e. kubectl's current one).
    #[arg(long)]
    pub namespace: Option<String>,
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
    /// Allow an `--as` name that matches the job's pattern (the job would then age it).
    #[arg(long)]
    pub force: bool,
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
    /// Let destructive steps (index delete, archive expiry, TSDB deletes) run although the
    /// clock (--now, ALMANAC_NOW) is more than 24 h from the system clock.
    #[arg(long)]
    pub allow_clock_skew: bool,
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

/// glibc raises its mmap threshold each time a large block is freed, so after the first
/// few, the archive export's 5 MiB chunks come from the heap arenas (one per thread) and RSS
/// creeps up with the index size. A fixed threshold keeps blocks of 1 MiB and more in their
/// own mappings, returned to the system when freed; fewer arenas, less fragmentation.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Parses the command line and runs it. This is all `main` does.
pub fn main() -> ExitCode {
    tune_allocator();
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
        // `k8s` reads jobs.toml without resolving ${VAR} and *_file: those exist in the pod.
        if let Command::K8s(args) = &self.command {
            return k8s(&self.config, args, self.quiet);
        }
        let config = match jobs::load_config(&self.config) {
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
            Command::List(args) => list(&config, &args).await,
            Command::Validate(args) => validate::run(&config, &args).await,
            Command::K8s(_) => unreachable!("handled before loading the configuration"),
            Command::Restore(args) => restore::run(config, &args, self.quiet).await,
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
        allow_clock_skew: args.allow_clock_skew,
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
    let report = match runner::run_job(Arc::clone(&config), &args.job, options, now, cancel).await {
        Ok(report) => report,
        Err(message) => {
            eprintln!("almanac: {message}");
            return exit::USAGE;
        }
    };
    // --quiet: a text report only when something went wrong (cron style).
    let quiet_success = quiet && report.exit_code() == exit::SUCCESS;
    let show_text = !args.dry_run && !quiet_success;
    if !(args.dry_run && args.output == OutputFormat::Json) {
        let mut stdout = std::io::stdout().lock();
        let _ = match args.output {
            OutputFormat::Json => writeln!(stdout, "{}", report.to_json()),
            OutputFormat::Text if show_text => write!(stdout, "{}", report.to_text()),
            OutputFormat::Text => Ok(()),
        };
    }
    let pushed = runner::record(&config, None, &report).await;
    match report.exit_code() {
        exit::SUCCESS if !pushed => exit::JOB_FAILED,
        code => code,
    }
}

fn k8s(file: &std::path::Path, args: &K8sArgs, quiet: bool) -> u8 {
    let source = match std::fs::read_to_string(file) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("almanac: {}: cannot read the configuration: {error}", file.display());
            return exit::USAGE;
        }
    };
    let options = crate::k8s::Options {
        image: args.image.clone().unwrap_or_else(crate::k8s::default_image),
        namespace: args.namespace.clone(),
    };
    let generated = match crate::k8s::generate(file, &source, &options) {
        Ok(generated) => generated,
        Err(error) => {
            eprintln!("almanac: {error}");
            return exit::USAGE;
        }
    };
    for warning in &generated.warnings {
        eprintln!("almanac: warning: {warning}");
    }
    let Some(out) = &args.out else {
        let documents: Vec<&str> = generated.manifests.iter().map(|m| m.content.as_str()).collect();
        print!("{}", documents.join("---\n"));
        return exit::SUCCESS;
    };
    match crate::k8s::write(out, &generated.manifests) {
        Ok(written) if !quiet => {
            for path in written {
                println!("wrote {}", path.display());
            }
            let required: Vec<&str> = generated
                .env_vars
                .iter()
                .filter(|(_, has_default)| !has_default)
                .map(|(name, _)| name.as_str())
                .collect();
            let optional: Vec<&str> = generated
                .env_vars
                .iter()
                .filter(|(_, has_default)| *has_default)
                .map(|(name, _)| name.as_str())
                .collect();
            println!(
                "Secret {} (envFrom): required keys: {}; optional (have defaults): {}",
                crate::k8s::ENV_SECRET,
                if required.is_empty() {
                    "none".to_string()
                } else {
                    required.join(", ")
                },
                if optional.is_empty() {
                    "none".to_string()
                } else {
                    optional.join(", ")
                }
            );
            if !generated.secret_files.is_empty() {
                println!(
                    "Secret {} (mounted at {}): keys: {}",
                    crate::k8s::FILES_SECRET,
                    crate::k8s::SECRETS_DIR,
                    generated.secret_files.join(", ")
                );
            }
            exit::SUCCESS
        }
        Ok(_) => exit::SUCCESS,
        Err(error) => {
            eprintln!("almanac: cannot write manifests into {}: {error}", out.display());
            exit::JOB_FAILED
        }
    }
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

/// The last run of each job as the Pushgateway has it; `None` without `[pushgateway]`.
/// An unreachable Pushgateway is a warning: `list` still shows the schedules.
async fn last_runs(config: &Config) -> Option<std::collections::BTreeMap<String, Option<crate::push::LastRun>>> {
    let gateway = config.pushgateway.as_ref()?;
    let mut gateway = gateway.clone();
    gateway.timeout = gateway.timeout.min(config::HumanDuration::from_secs(5));
    let client = crate::clients::pushgateway::Pushgateway::new(&gateway);
    let groups = match client {
        Ok(client) => client.groups().await,
        Err(error) => Err(error),
    };
    match groups {
        Ok(groups) => Some(
            config
                .jobs
                .keys()
                .map(|name| (name.clone(), crate::push::last_run_of(&groups, name)))
                .collect(),
        ),
        Err(error) => {
            eprintln!("almanac: warning: cannot read the last runs from the Pushgateway: {error}");
            Some(Default::default())
        }
    }
}

fn format_epoch(seconds: Option<f64>, timezone: &config::TimeZoneName) -> Option<String> {
    let time = DateTime::from_timestamp_millis((seconds? * 1000.0) as i64)?;
    Some(
        time.with_timezone(&timezone.0)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
    )
}

async fn list(config: &Config, args: &ListArgs) -> u8 {
    let now = args.now.unwrap_or_else(Utc::now);
    let mut jobs = next_runs(config, now, args.next);
    let last = last_runs(config).await;
    if let Some(last) = &last {
        for job in &mut jobs {
            let name = job["job"].as_str().unwrap_or_default().to_string();
            job["last_run"] = serde_json::to_value(last.get(&name).cloned().flatten()).unwrap_or_default();
        }
    }
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::Value::Array(jobs)),
        OutputFormat::Text => {
            let mut header = vec!["JOB", "KIND", "SCHEDULE", "TIMEZONE", "NEXT RUNS"];
            if last.is_some() {
                header.extend(["LAST RUN", "LAST SUCCESS"]);
            }
            let mut table = Table::new(header);
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
                let mut row = vec![
                    name,
                    job["kind"].as_str().unwrap_or_default().to_string(),
                    job["schedule"].as_str().unwrap_or_default().to_string(),
                    job["timezone"].as_str().unwrap_or_default().to_string(),
                    next.join(", "),
                ];
                if let Some(last) = &last {
                    let job_name = job["job"].as_str().unwrap_or_default();
                    let timezone = config.jobs.get(job_name).map(|j| j.timezone).unwrap_or_default();
                    match last.get(job_name).cloned().flatten() {
                        Some(run) => {
                            let mut text = run.outcome.clone().unwrap_or_else(|| "?".into());
                            if let Some(at) = format_epoch(run.last_run, &timezone) {
                                text.push_str(&format!(" {at}"));
                            }
                            if let Some(duration) = run.duration_seconds {
                                text.push_str(&format!(" ({duration:.1}s)"));
                            }
                            row.push(text);
                            row.push(format_epoch(run.last_success, &timezone).unwrap_or_else(|| "never".into()));
                        }
                        None if last.is_empty() => row.extend(["?".to_string(), "?".to_string()]),
                        None => row.extend(["never".to_string(), "never".to_string()]),
                    }
                }
                table.row(row);
            }
            print!("{}", table.render());
        }
    }
    exit::SUCCESS
}
