//! The per-index steps other than archiving: the warm step (allocation, force-merge, write
//! block), the Glacier transition and expiry of an archive.

use super::placement::{WarmMethod, warm_setting};
use super::{Settings, Transition, manifest};
use crate::clients::s3::ArchiveStore;
use crate::clients::search::SearchClient;
use crate::jobs::JobError;

/// Allocation to warm nodes (data tier or attribute, `method` resolved), optional
/// force-merge, write block. The shards move afterwards; the next plan reads where they are.
pub async fn warm(search: &SearchClient, settings: &Settings, method: WarmMethod, index: &str) -> Result<(), JobError> {
    let (key, value) = warm_setting(method, &settings.warm_attribute, &settings.warm_value);
    search.put_settings(index, &serde_json::json!({ key: value })).await?;
    search
        .put_settings(index, &serde_json::json!({"index.blocks.write": true}))
        .await?;
    if settings.force_merge {
        search.forcemerge(index, settings.max_num_segments).await?;
    }
    Ok(())
}

/// Moves an archive's parts to the Glacier class (the manifest stays readable), or checks
/// that a lifecycle rule will.
pub async fn transition(
    settings: &Settings,
    store: &ArchiveStore,
    index: &str,
    lifecycle_checked: &mut bool,
    warnings: &mut Vec<String>,
) -> Result<(), JobError> {
    if settings.transition == Transition::Lifecycle {
        if !*lifecycle_checked {
            *lifecycle_checked = true;
            let prefix = store.key("");
            let rules = store.lifecycle_rules().await?;
            let covered = rules.iter().any(|rule| {
                rule.covers(&prefix)
                    && rule
                        .transitions
                        .iter()
                        .any(|(_, class)| class == &settings.archive_storage_class)
            });
            if !covered {
                warnings.push(format!(
                    "no enabled lifecycle rule of bucket {} moves {prefix} to {}: add one or set transition = \"copy\"",
                    store.bucket, settings.archive_storage_class
                ));
            }
        }
        return Ok(());
    }
    let folder = store.key(&format!("{index}/"));
    for object in store.list(&folder).await? {
        if object.key.ends_with(manifest::MANIFEST) || object.storage_class == settings.archive_storage_class {
            continue;
        }
        store
            .set_storage_class(&object.key, object.size, &settings.archive_storage_class)
            .await?;
    }
    Ok(())
}

/// Deletes an archive: the manifest first (so a half-deleted archive never looks complete),
/// then every part.
pub async fn expire(store: &ArchiveStore, index: &str) -> Result<(), JobError> {
    store.delete(&manifest::key(store, index)).await?;
    let folder = store.key(&format!("{index}/"));
    for object in store.list(&folder).await? {
        store.delete(&object.key).await?;
    }
    Ok(())
}
