//! `almanac k8s`: the committed deploy/k8s/ is what jobs.toml generates today, the manifests
//! validate against the Kubernetes schemas (kubernetes-validate, offline), schedules and
//! time zones round-trip, memory and service accounts come from `[jobs.<name>.kubernetes]` or
//! the kind's defaults; schedules a CronJob cannot express are refused.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use almanac::config::{Schedule, TimeZoneName};
use support::Workspace;

fn generate(config: &Path, out: &Path) {
    support::run(
        &[
            "--config",
            config.to_str().unwrap(),
            "k8s",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    )
    .expect_code(0);
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The harness venv's kubernetes-validate, installed on first use (idempotent script).
fn kubernetes_validate() -> PathBuf {
    let script = support::repo().join("scripts/harness/install-k8s-validate");
    let output = Command::new(&script).output().expect("run install-k8s-validate");
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim().lines().last().unwrap())
}

/// Every document of the YAML files, as JSON (parsed by PyYAML from the same venv).
fn documents(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let python = kubernetes_validate().parent().unwrap().join("python");
    let output = Command::new(python)
        .arg("-c")
        .arg(
            "import sys, json, yaml\nprint(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f))]))",
        )
        .args(files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn committed_manifests_are_up_to_date() {
    let committed = support::repo().join("deploy/k8s");
    let fresh = tempfile::tempdir().unwrap();
    generate(&support::repo().join("jobs.toml"), fresh.path());
    let names = |dir: &Path| -> Vec<String> {
        yaml_files(dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let stale = "deploy/k8s is out of date: run scripts/gen-k8s (almanac k8s --out deploy/k8s) and commit";
    assert_eq!(names(&committed), names(fresh.path()), "{stale}");
    for name in names(fresh.path()) {
        let want = std::fs::read_to_string(fresh.path().join(&name)).unwrap();
        let have = std::fs::read_to_string(committed.join(&name)).unwrap();
        assert!(want == have, "{stale}: {name} differs");
    }
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let validate = kubernetes_validate();
    // The committed ones, and a config with every feature: secret files, disabled job, namespace,
    // service account and memory overrides.
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[smtp]\nhost = \"${SMTP_HOST}\"\nfrom = \"a@b.c\"\nusername = \"u\"\n\
         password_file = \"/etc/almanac/secrets/smtp-password\"\n\n\
         [jobs.weekly_report]\nkind = \"noop\"\nschedule = \"0 0 8 * * Mon\"\ntimezone = \"America/New_York\"\n\
         enabled = false\ndescription = \"Weekly: \\\"quoted\\\" and\\ttabbed\"\n\n\
         [jobs.archive]\nkind = \"log-retention\"\nschedule = \"0 30 2 * * *\"\n\
         [jobs.archive.kubernetes]\nservice_account = \"almanac-archive\"\nmemory_request = \"100Mi\"\nmemory_limit = \"1Gi\"\n",
    );
    let out = workspace.path().join("out");
    let run = workspace.almanac(
        &[
            "k8s",
            "--out",
            out.to_str().unwrap(),
            "--namespace",
            "monitoring",
            "--image",
            "registry.example.com/almanac:1.2.3",
        ],
        &[],
    );
    run.expect_code(0);
    assert!(run.stdout().contains("required keys: SMTP_HOST"), "{}", run.describe());
    assert!(run.stdout().contains("keys: smtp-password"), "{}", run.describe());
    let mut files = yaml_files(&support::repo().join("deploy/k8s"));
    files.extend(yaml_files(&out));
    for version in ["1.31.0", "1.37.0"] {
        let output = Command::new(&validate)
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubernetes-validate {version}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let docs = documents(&yaml_files(&out));
    let cronjob = docs
        .iter()
        .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == "almanac-weekly-report")
        .unwrap();
    assert_eq!(cronjob["metadata"]["namespace"], "monitoring");
    assert_eq!(cronjob["spec"]["suspend"], true);
    assert_eq!(cronjob["spec"]["schedule"], "0 8 * * Mon");
    assert_eq!(cronjob["spec"]["timeZone"], "America/New_York");
    assert_eq!(
        cronjob["metadata"]["annotations"]["almanac/description"],
        "Weekly: \"quoted\" and\ttabbed"
    );
    let pod = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "registry.example.com/almanac:1.2.3");
    assert_eq!(
        pod["containers"][0]["args"],
        serde_json::json!(["run", "weekly_report"])
    );
    assert_eq!(pod["volumes"][3]["secret"]["secretName"], "almanac-files");
    // No [jobs.weekly_report.kubernetes]: the namespace's default account, noop's memory.
    assert_eq!(pod.get("serviceAccountName"), None);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["containers"][0]["resources"],
        serde_json::json!({"requests": {"cpu": "50m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}})
    );
    let archive = docs
        .iter()
        .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == "almanac-archive")
        .unwrap();
    let pod = &archive["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "almanac-archive");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["containers"][0]["resources"],
        serde_json::json!({"requests": {"cpu": "50m", "memory": "100Mi"}, "limits": {"memory": "1Gi"}})
    );
    let configmap = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(
        configmap["data"]["jobs.toml"].as_str().unwrap(),
        std::fs::read_to_string(workspace.path().join("jobs.toml")).unwrap(),
        "the ConfigMap holds jobs.toml byte for byte"
    );
}

#[test]
fn schedules_and_time_zones_round_trip() {
    let config_file = support::repo().join("jobs.toml");
    let source = std::fs::read_to_string(&config_file).unwrap();
    let jobs: toml::Table = toml::from_str::<toml::Table>(&source).unwrap()["jobs"]
        .as_table()
        .unwrap()
        .clone();
    let docs = documents(&yaml_files(&support::repo().join("deploy/k8s")));
    let cronjobs: Vec<&serde_json::Value> = docs.iter().filter(|d| d["kind"] == "CronJob").collect();
    assert_eq!(cronjobs.len(), jobs.len(), "one CronJob per job");
    let start = chrono::Utc::now();
    for (name, table) in &jobs {
        let cronjob = cronjobs
            .iter()
            .find(|c| c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][1] == name.as_str())
            .unwrap_or_else(|| panic!("no CronJob runs {name}"));
        let zone: TimeZoneName = table
            .get("timezone")
            .map(|z| z.clone().try_into::<TimeZoneName>().unwrap())
            .unwrap_or_default();
        assert_eq!(cronjob["spec"]["timeZone"], zone.0.name(), "{name}");
        let original: Schedule = table["schedule"].as_str().unwrap().parse().unwrap();
        let generated: Schedule = cronjob["spec"]["schedule"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            generated.as_str().split_whitespace().count(),
            5,
            "{name}: 5-field schedule"
        );
        let local = start.with_timezone(&zone.0);
        assert_eq!(
            original.next_after(&local, 30),
            generated.next_after(&local, 30),
            "{name}: the CronJob fires at other times than jobs.toml says"
        );
        assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    }
}

/// The repository's jobs: log-retention runs as its IRSA ServiceAccount, the others as the
/// namespace's default; memory is each kind's default (docs/operating.md, "Memory").
#[test]
fn committed_manifests_have_memory_per_kind_and_the_service_account() {
    let docs = documents(&yaml_files(&support::repo().join("deploy/k8s")));
    let expected = [
        ("almanac-daily-report", None, "32Mi", "128Mi"),
        ("almanac-log-retention", Some("almanac-log-retention"), "48Mi", "256Mi"),
        ("almanac-tsdb-maintenance", None, "80Mi", "256Mi"),
        ("almanac-tsdb-rollup", None, "96Mi", "256Mi"),
    ];
    let cronjobs = docs.iter().filter(|d| d["kind"] == "CronJob").count();
    assert_eq!(cronjobs, expected.len());
    for (name, account, request, limit) in expected {
        let cronjob = docs
            .iter()
            .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no CronJob {name}"));
        let pod = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"].as_str(), account, "{name}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        assert_eq!(
            pod["containers"][0]["resources"],
            serde_json::json!({"requests": {"cpu": "50m", "memory": request}, "limits": {"memory": limit}}),
            "{name}"
        );
    }
}

#[test]
fn schedules_with_seconds_are_refused() {
    let workspace = Workspace::new();
    workspace.write(
        "jobs.toml",
        "[jobs.often]\nkind = \"noop\"\nschedule = \"*/10 * * * * *\"\n",
    );
    let run = workspace.almanac(&["k8s"], &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("jobs.often.schedule"), "{}", run.describe());
    assert!(run.stderr().contains("minute resolution"), "{}", run.describe());
}
