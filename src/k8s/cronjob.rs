//! The CronJob object of one job: schedule, time zone, deadlines, the pod (non-root, read-only
//! root file system, config and secrets mounted, memory per job kind, service account when
//! set) and the labels shared by every object.

use super::yaml::{Yaml, map};
use super::*;

/// The labels every object carries, plus the job's own on a CronJob and its pods.
pub(super) fn labels(object: &str, job: Option<&str>) -> Yaml {
    let mut labels = map([
        ("app.kubernetes.io/name", "almanac".into()),
        ("app.kubernetes.io/managed-by", "almanac-k8s".into()),
    ]);
    if let Some(job) = job {
        labels.push("app.kubernetes.io/instance", object);
        labels.push("almanac/job", job.replace('_', "-"));
    }
    labels
}

/// `metadata`: name, namespace (when given) and labels.
pub(super) fn metadata(name: &str, options: &Options, job: Option<&str>) -> Yaml {
    let mut meta = map([("name", name.into())]);
    if let Some(namespace) = &options.namespace {
        meta.push("namespace", namespace.as_str());
    }
    meta.push("labels", labels(name, job));
    meta
}

/// The CronJob that runs `almanac run <job>` on the job's schedule, in its time zone.
pub(super) fn cronjob(job: &JobShape, object: &str, schedule: &str, options: &Options, secret_files: bool) -> Yaml {
    let mut meta = metadata(object, options, Some(&job.name));
    if let Some(description) = &job.description {
        meta.push(
            "annotations",
            map([("almanac/description", description.as_str().into())]),
        );
    }
    let mut mounts = vec![
        map([("name", "work".into()), ("mountPath", WORK_DIR.into())]),
        map([
            ("name", "config".into()),
            ("mountPath", format!("{WORK_DIR}/jobs.toml").into()),
            ("subPath", "jobs.toml".into()),
            ("readOnly", true.into()),
        ]),
        map([("name", "tmp".into()), ("mountPath", "/tmp".into())]),
    ];
    let mut volumes = vec![
        map([("name", "work".into()), ("emptyDir", map([]))]),
        map([
            ("name", "config".into()),
            ("configMap", map([("name", CONFIGMAP.into())])),
        ]),
        map([
            ("name", "tmp".into()),
            (
                "emptyDir",
                map([("medium", "Memory".into()), ("sizeLimit", "64Mi".into())]),
            ),
        ]),
    ];
    if secret_files {
        mounts.push(map([
            ("name", "secrets".into()),
            ("mountPath", SECRETS_DIR.into()),
            ("readOnly", true.into()),
        ]));
        volumes.push(map([
            ("name", "secrets".into()),
            (
                "secret",
                map([("secretName", FILES_SECRET.into()), ("defaultMode", 0o440.into())]),
            ),
        ]));
    }
    let container = map([
        ("name", "almanac".into()),
        ("image", options.image.as_str().into()),
        ("imagePullPolicy", "IfNotPresent".into()),
        ("args", vec!["run".into(), job.name.as_str().into()].into()),
        ("workingDir", WORK_DIR.into()),
        (
            "env",
            vec![
                map([
                    ("name", "ALMANAC_CONFIG".into()),
                    ("value", format!("{WORK_DIR}/jobs.toml").into()),
                ]),
                map([("name", "ALMANAC_LOG".into()), ("value", "info".into())]),
            ]
            .into(),
        ),
        (
            "envFrom",
            vec![map([(
                "secretRef",
                map([("name", ENV_SECRET.into()), ("optional", true.into())]),
            )])]
            .into(),
        ),
        (
            "resources",
            map([
                (
                    "requests",
                    map([("cpu", "50m".into()), ("memory", job.memory.request.as_str().into())]),
                ),
                ("limits", map([("memory", job.memory.limit.as_str().into())])),
            ]),
        ),
        (
            "securityContext",
            map([
                ("allowPrivilegeEscalation", false.into()),
                ("readOnlyRootFilesystem", true.into()),
                ("runAsNonRoot", true.into()),
                ("capabilities", map([("drop", vec!["ALL".into()].into())])),
            ]),
        ),
        ("volumeMounts", mounts.into()),
    ]);
    let mut pod = map([("restartPolicy", "Never".into())]);
    if let Some(account) = &job.kubernetes.service_account {
        pod.push("serviceAccountName", account.as_str());
    }
    pod.push("automountServiceAccountToken", false);
    pod.push("terminationGracePeriodSeconds", 60);
    pod.push(
        "securityContext",
        map([
            ("runAsNonRoot", true.into()),
            ("runAsUser", USER_ID.into()),
            ("runAsGroup", USER_ID.into()),
            ("fsGroup", USER_ID.into()),
            ("seccompProfile", map([("type", "RuntimeDefault".into())])),
        ]),
    );
    pod.push("containers", vec![container]);
    pod.push("volumes", volumes);
    let job_spec = map([
        ("backoffLimit", 0.into()),
        (
            "podFailurePolicy",
            map([(
                "rules",
                vec![map([
                    ("action", "Ignore".into()),
                    (
                        "onPodConditions",
                        vec![map([("type", "DisruptionTarget".into()), ("status", "True".into())])].into(),
                    ),
                ])]
                .into(),
            )]),
        ),
        ("activeDeadlineSeconds", active_deadline(job.timeout).into()),
        (
            "template",
            map([
                ("metadata", map([("labels", labels(object, Some(&job.name)))])),
                ("spec", pod),
            ]),
        ),
    ]);
    map([
        ("apiVersion", "batch/v1".into()),
        ("kind", "CronJob".into()),
        ("metadata", meta),
        (
            "spec",
            map([
                ("schedule", schedule.into()),
                ("timeZone", job.timezone.0.name().into()),
                ("concurrencyPolicy", "Forbid".into()),
                (
                    "startingDeadlineSeconds",
                    starting_deadline(&job.schedule, job.timezone).into(),
                ),
                ("suspend", (!job.enabled).into()),
                ("successfulJobsHistoryLimit", 3.into()),
                ("failedJobsHistoryLimit", 3.into()),
                (
                    "jobTemplate",
                    map([
                        ("metadata", map([("labels", labels(object, Some(&job.name)))])),
                        ("spec", job_spec),
                    ]),
                ),
            ]),
        ),
    ])
}
