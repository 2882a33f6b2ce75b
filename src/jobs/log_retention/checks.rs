//! Pure safety checks of log retention: what an archive cannot carry, whether an index may
//! be deleted now, whether an archive is old enough to expire and ours to age.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

/// Why an index's `_source` would not come back as it was indexed, if it would not:
/// synthetic `_source` (rebuilt from fields), includes/excludes (fields dropped), or none.
pub fn source_loss(mappings: &Value, settings: &Map<String, Value>) -> Option<String> {
    let setting = |key: &str| settings.get(key).and_then(Value::as_str).unwrap_or_default();
    let source = &mappings["_source"];
    if source["enabled"] == Value::Bool(false) {
        return Some("_source is disabled: documents cannot be exported".into());
    }
    match setting("index.mode") {
        "logsdb" | "time_series" => {
            return Some(format!(
                "index.mode is {}: _source is synthetic (rebuilt from fields, not the indexed bytes)",
                setting("index.mode")
            ));
        }
        _ => {}
    }
    if source["mode"] == "synthetic" || setting("index.mapping.source.mode") == "synthetic" {
        return Some("_source is synthetic (rebuilt from fields, not the indexed bytes)".into());
    }
    for list in ["includes", "excludes"] {
        if source[list].as_array().is_some_and(|a| !a.is_empty()) {
            return Some(format!(
                "_source {list} are set: fields left out of _source would be lost"
            ));
        }
    }
    None
}

/// An archive may expire only if it has existed at least as long as the tiers say an
/// archive lives (`expire_after - cold_after`): a wrong date in a name never deletes a fresh one.
pub fn too_young_to_expire(archived_at: DateTime<Utc>, now: DateTime<Utc>, archive_life: Duration) -> bool {
    now - archived_at < archive_life
}

/// What the cluster says about an index right before it would be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexNow {
    pub uuid: String,
    pub write_blocked: bool,
    pub count: u64,
}

/// Ok only if the index is still the one archived, unchanged since: same UUID, still
/// write-blocked, same document count.
pub fn may_delete(index: &str, now: &IndexNow, archived_uuid: Option<&str>, archived_count: u64) -> Result<(), String> {
    match archived_uuid {
        None => {
            return Err(format!(
                "{index}: the archive does not record the index UUID (written by an older almanac); \
                 index kept: check the archive with `almanac restore {index} --as <name>`"
            ));
        }
        Some(uuid) if uuid != now.uuid => {
            return Err(format!(
                "{index}: the archive is of another index of that name (UUID {uuid}, this one is {}); \
                 index kept, archive left as it is",
                now.uuid
            ));
        }
        Some(_) => {}
    }
    if !now.write_blocked {
        return Err(format!(
            "{index}: the write block was removed during the run; index kept"
        ));
    }
    if now.count != archived_count {
        return Err(format!(
            "{index}: {} documents now, {archived_count} archived; index kept",
            now.count
        ));
    }
    Ok(())
}

/// Whether an S3 folder's manifest makes it this job's archive.
pub fn owned_by(manifest_job: Option<&str>, job: &str) -> Result<(), String> {
    match manifest_job {
        Some(name) if name == job => Ok(()),
        Some(name) => Err(format!("archive of job {name}, not {job}")),
        None => Err("manifest names no job (written by an older almanac)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn source_that_would_not_come_back_is_named() {
        let none = map(json!({}));
        assert_eq!(source_loss(&json!({"properties": {}}), &none), None);
        assert!(source_loss(&json!({"_source": {"mode": "synthetic"}}), &none).is_some());
        assert!(source_loss(&json!({}), &map(json!({"index.mode": "logsdb"}))).is_some());
        assert!(source_loss(&json!({}), &map(json!({"index.mapping.source.mode": "synthetic"}))).is_some());
        assert!(
            source_loss(&json!({"_source": {"excludes": ["secret"]}}), &none)
                .unwrap()
                .contains("excludes")
        );
        assert!(source_loss(&json!({"_source": {"includes": []}}), &none).is_none());
        assert!(source_loss(&json!({"_source": {"enabled": false}}), &none).is_some());
    }

    #[test]
    fn young_archives_do_not_expire() {
        let now = DateTime::parse_from_rfc3339("2033-01-01T00:00:00Z").unwrap().to_utc();
        let life = Duration::days(7 * 365 - 30);
        assert!(too_young_to_expire(now - Duration::days(10), now, life));
        assert!(!too_young_to_expire(now - Duration::days(7 * 365), now, life));
    }

    #[test]
    fn delete_needs_same_uuid_block_and_count() {
        let now = IndexNow {
            uuid: "u1".into(),
            write_blocked: true,
            count: 5,
        };
        assert!(may_delete("i", &now, Some("u1"), 5).is_ok());
        assert!(
            may_delete("i", &now, Some("u2"), 5)
                .unwrap_err()
                .contains("another index")
        );
        assert!(may_delete("i", &now, None, 5).is_err());
        assert!(may_delete("i", &now, Some("u1"), 6).is_err());
        let unblocked = IndexNow {
            write_blocked: false,
            ..now
        };
        assert!(may_delete("i", &unblocked, Some("u1"), 5).is_err());
        for message in [
            may_delete("i", &unblocked, Some("u1"), 5).unwrap_err(),
            may_delete(
                "i",
                &IndexNow {
                    uuid: "x".into(),
                    write_blocked: true,
                    count: 5,
                },
                Some("u1"),
                5,
            )
            .unwrap_err(),
        ] {
            assert!(!message.contains("delete the archive"), "{message}");
        }
    }

    #[test]
    fn only_archives_naming_this_job_are_ours() {
        assert!(owned_by(Some("logs"), "logs").is_ok());
        assert!(owned_by(Some("other"), "logs").is_err());
        assert!(owned_by(None, "logs").is_err());
    }
}
