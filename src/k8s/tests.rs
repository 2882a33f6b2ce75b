//! `almanac k8s` from jobs.toml text: manifests, refusals, secrets and files listed.
use super::*;

fn gen_one(table: &str) -> Result<Generated, K8sError> {
    generate(Path::new("jobs.toml"), table, &Options::default())
}

#[test]
fn seconds_other_than_zero_are_refused() {
    let error = gen_one("[jobs.a]\nkind = \"noop\"\nschedule = \"*/10 * * * * *\"\n").unwrap_err();
    assert_eq!(error.key, "jobs.a.schedule");
    assert!(error.message.contains("minute resolution"), "{error}");
    let ok = gen_one("[jobs.a]\nkind = \"noop\"\nschedule = \"0 30 3 * * *\"\n").unwrap();
    assert!(ok.manifests[1].content.contains("schedule: \"30 3 * * *\""));
}

#[test]
fn both_day_fields_restricted_is_refused() {
    let error = gen_one("[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 1 * Mon\"\n").unwrap_err();
    assert!(error.message.contains("either"), "{error}");
}

#[test]
fn inline_secrets_are_refused_with_the_form_to_use() {
    let base = "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n";
    let error = gen_one(&format!(
        "[smtp]\nhost = \"h\"\nfrom = \"a@b\"\nusername = \"u\"\npassword = \"hunter2\"\n{base}"
    ))
    .unwrap_err();
    assert_eq!(error.key, "smtp.password");
    assert!(
        error
            .message
            .contains("password_file = \"/etc/almanac/secrets/smtp-password\""),
        "{error}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let error = gen_one(&format!("[search]\nurl = \"https://u:pw@es:9200\"\n{base}")).unwrap_err();
    assert_eq!(error.key, "search.url");
    assert!(!error.to_string().contains("pw@"), "{error}");
    gen_one(&format!(
        "[smtp]\nhost = \"h\"\nfrom = \"a@b\"\nusername = \"u\"\npassword = \"${{SMTP_PASSWORD}}\"\n{base}"
    ))
    .unwrap();
}

#[test]
fn deadlines() {
    assert_eq!(active_deadline(HumanDuration::from_secs(600)), 900);
    assert_eq!(active_deadline(HumanDuration::from_secs(6 * 3_600)), 6 * 3_600 + 2_160);
    let daily: Schedule = "0 7 * * *".parse().unwrap();
    assert_eq!(starting_deadline(&daily, TimeZoneName(chrono_tz::Europe::Paris)), 3_600);
    let often: Schedule = "*/5 * * * *".parse().unwrap();
    assert_eq!(starting_deadline(&often, TimeZoneName::default()), 150);
}

#[test]
fn default_timeout_matches_the_config_loader() {
    let config = crate::config::parse::<crate::jobs::JobKind>(
        Path::new("jobs.toml"),
        "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n",
        &|_| None,
    )
    .unwrap();
    let generated = gen_one("[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n").unwrap();
    let deadline = format!("activeDeadlineSeconds: {}\n", active_deadline(config.jobs["a"].timeout));
    assert!(
        generated.manifests[1].content.contains(&deadline),
        "{}",
        generated.manifests[1].content
    );
}

#[test]
fn secret_files_env_vars_and_disabled_jobs() {
    let generated = gen_one(
        "[smtp]\nhost = \"${SMTP_HOST}\"\nfrom = \"a@b\"\nusername = \"u\"\n\
         password_file = \"/etc/almanac/secrets/smtp-password\"\n\
         [prometheus]\nurl = \"${PROMETHEUS_URL:-http://p:9090}\"\nca_file = \"/ca.pem\"\n\
         [jobs.Old_Job]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\nenabled = false\n",
    )
    .unwrap();
    assert_eq!(generated.secret_files, ["smtp-password"]);
    assert_eq!(
        generated.env_vars,
        [("PROMETHEUS_URL".to_string(), true), ("SMTP_HOST".to_string(), false)]
    );
    assert_eq!(generated.warnings.len(), 1, "{:?}", generated.warnings);
    let cronjob = &generated.manifests[1];
    assert_eq!(cronjob.file_name, "cronjob-old-job.yaml");
    assert!(cronjob.content.contains("suspend: true"));
    assert!(cronjob.content.contains("secretName: almanac-files"));
    assert!(cronjob.content.contains("      - run\n") || cronjob.content.contains("- Old_Job"));
}

fn pod(generated: &Generated) -> &str {
    &generated.manifests[1].content
}

#[test]
fn memory_defaults_per_kind_and_overrides() {
    for (kind, request, limit) in crate::config::MEMORY_DEFAULTS {
        let generated = gen_one(&format!("[jobs.a]\nkind = \"{kind}\"\nschedule = \"0 7 * * *\"\n")).unwrap();
        let resources = format!(
            "              resources:\n                requests:\n                  cpu: \"50m\"\n\
             \x20                 memory: \"{request}\"\n                limits:\n                  memory: \"{limit}\"\n"
        );
        assert!(pod(&generated).contains(&resources), "{kind}:\n{}", pod(&generated));
    }
    let generated = gen_one(
        "[jobs.a]\nkind = \"log-retention\"\nschedule = \"0 7 * * *\"\n\
         [jobs.a.kubernetes]\nmemory_request = \"100Mi\"\nmemory_limit = \"1Gi\"\n",
    )
    .unwrap();
    assert!(pod(&generated).contains("memory: \"100Mi\"\n"), "{}", pod(&generated));
    assert!(pod(&generated).contains("memory: \"1Gi\"\n"), "{}", pod(&generated));
}

#[test]
fn every_job_kind_has_memory_defaults() {
    for kind in JobKind::NAMES {
        assert!(crate::config::default_memory(kind).is_some(), "{kind}");
    }
    assert_eq!(crate::config::MEMORY_DEFAULTS.len(), JobKind::NAMES.len());
}

#[test]
fn service_account_only_when_set_and_never_the_api_token() {
    let generated = gen_one("[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n").unwrap();
    assert!(!pod(&generated).contains("serviceAccountName"), "{}", pod(&generated));
    assert!(pod(&generated).contains("automountServiceAccountToken: false\n"));
    let generated = gen_one(
        "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n[jobs.a.kubernetes]\nservice_account = \"almanac-a\"\n",
    )
    .unwrap();
    assert!(
        pod(&generated).contains(
            "          restartPolicy: Never\n          serviceAccountName: almanac-a\n          \
             automountServiceAccountToken: false\n"
        ),
        "{}",
        pod(&generated)
    );
}

#[test]
fn bad_kubernetes_settings_and_kinds_are_refused() {
    let job = |extra: &str| format!("[jobs.a]\nkind = \"report\"\nschedule = \"0 7 * * *\"\n{extra}");
    let refused = |source: String| gen_one(&source).unwrap_err();
    let error = refused(job("[jobs.a.kubernetes]\nservice_account = \"Almanac_SA\"\n"));
    assert_eq!(error.key, "jobs.a.kubernetes.service_account");
    assert!(error.message.contains("DNS-1123"), "{error}");
    let error = refused(job("[jobs.a.kubernetes]\nmemory_limit = \"512MB\"\n"));
    assert_eq!(error.key, "jobs.a.kubernetes.memory_limit");
    assert!(error.message.contains("unknown suffix"), "{error}");
    let error = refused(job("[jobs.a.kubernetes]\nmemory_request = \"200Mi\"\n"));
    assert_eq!(error.key, "jobs.a.kubernetes.memory_request");
    assert!(
        error
            .message
            .contains("above the default memory_limit of a report job (128Mi)"),
        "{error}"
    );
    let error = refused(job("[jobs.a.kubernetes]\nservice_account = \"${SA}\"\n"));
    assert_eq!(error.key, "jobs.a.kubernetes.service_account");
    assert!(error.message.contains("environment"), "{error}");
    let error = refused(job("[jobs.a.kubernetes]\nservice_acount = \"x\"\n"));
    assert!(error.message.contains("unknown field"), "{error}");
    let error = refused("[jobs.a]\nschedule = \"0 7 * * *\"\n".into());
    assert_eq!(error.key, "jobs.a.kind");
    let error = refused("[jobs.a]\nkind = \"backup\"\nschedule = \"0 7 * * *\"\n".into());
    assert!(error.message.contains("unknown job kind \"backup\""), "{error}");
}

#[test]
fn kubernetes_settings_match_the_config_loader() {
    let source = "[jobs.a]\nkind = \"noop\"\nschedule = \"0 7 * * *\"\n\
                  [jobs.a.kubernetes]\nservice_account = \"almanac-a\"\nmemory_limit = \"96Mi\"\n";
    let config = crate::config::parse::<JobKind>(Path::new("jobs.toml"), source, &|_| None).unwrap();
    let settings = &config.jobs["a"].kubernetes;
    assert_eq!(settings.service_account.as_ref().map(|s| s.as_str()), Some("almanac-a"));
    assert_eq!(settings.memory("noop").unwrap().limit.as_str(), "96Mi");
    assert!(pod(&gen_one(source).unwrap()).contains("memory: \"96Mi\"\n"));
}
