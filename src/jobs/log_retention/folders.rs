//! What the archive prefix holds per index when the run's work starts (the plan's listing and
//! one listing of dangling uploads, both under the run lock), instead of three probes per index.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::plan::ArchiveState;
use crate::clients::s3::ArchiveStore;
use crate::jobs::JobError;

/// One index's folder: a manifest or not, the other objects, the multipart uploads a killed
/// run left behind.
#[derive(Debug, Default, PartialEq)]
pub struct Folder {
    pub manifest: bool,
    pub objects: Vec<String>,
    pub uploads: Vec<(String, String)>,
}

/// The folders of the indices this run archives, each taken once by its archive.
#[derive(Debug, Default)]
pub struct Folders(Mutex<BTreeMap<String, Folder>>);

impl Folders {
    /// Lists the dangling uploads under the prefix (once) and joins them to the plan's
    /// listing of `archived`, for `indices` only. Called before any export of the run starts,
    /// so that no upload of this run is taken for a leftover.
    pub async fn read(
        store: &ArchiveStore,
        archived: &BTreeMap<String, ArchiveState>,
        indices: &[String],
    ) -> Result<Self, JobError> {
        if indices.is_empty() {
            return Ok(Self::default());
        }
        let root = store.key("");
        let uploads = store.dangling_uploads(&root).await?;
        Ok(Self(Mutex::new(by_index(&root, archived, uploads, indices))))
    }

    /// The folder of `index` as listed (empty if nothing was there).
    pub fn take(&self, index: &str) -> Folder {
        let mut folders = self.0.lock().unwrap_or_else(|e| e.into_inner());
        folders.remove(index).unwrap_or_default()
    }
}

/// The folders of `indices`: objects from the plan's listing, uploads by the folder of their
/// key (`<root><index>/...`).
fn by_index(
    root: &str,
    archived: &BTreeMap<String, ArchiveState>,
    uploads: Vec<(String, String)>,
    indices: &[String],
) -> BTreeMap<String, Folder> {
    let mut out: BTreeMap<String, Folder> = indices
        .iter()
        .map(|index| {
            let state = archived.get(index);
            let folder = Folder {
                manifest: state.is_some_and(|s| s.manifest),
                objects: state
                    .map(|s| s.parts.iter().map(|p| p.key.clone()).collect())
                    .unwrap_or_default(),
                uploads: Vec::new(),
            };
            (index.clone(), folder)
        })
        .collect();
    for (key, upload_id) in uploads {
        let index = key
            .strip_prefix(root)
            .and_then(|rest| rest.split_once('/'))
            .map(|(index, _)| index);
        if let Some(folder) = index.and_then(|index| out.get_mut(index)) {
            folder.uploads.push((key, upload_id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::s3::ObjectInfo;

    fn object(key: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size: 1,
            storage_class: "STANDARD".into(),
            restore: None,
            etag: None,
        }
    }

    #[test]
    fn each_index_gets_its_own_objects_and_uploads() {
        let archived = BTreeMap::from([
            (
                "a".to_string(),
                ArchiveState {
                    manifest: true,
                    parts: vec![object("p/a/part-0-0.ndjson.gz")],
                },
            ),
            (
                "b".to_string(),
                ArchiveState {
                    manifest: false,
                    parts: vec![object("p/b/part-0-0.ndjson.gz")],
                },
            ),
        ]);
        let uploads = vec![
            ("p/b/part-0-1.ndjson.gz".to_string(), "u1".to_string()),
            ("p/c/part-0-0.ndjson.gz".to_string(), "u2".to_string()),
            ("p/other/x".to_string(), "u3".to_string()),
            ("elsewhere/b/x".to_string(), "u4".to_string()),
        ];
        let names: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let folders = by_index("p/", &archived, uploads, &names);
        assert!(folders["a"].manifest);
        assert_eq!(folders["a"].objects, ["p/a/part-0-0.ndjson.gz"]);
        assert_eq!(
            folders["b"].uploads,
            [("p/b/part-0-1.ndjson.gz".to_string(), "u1".to_string())]
        );
        assert!(!folders["b"].manifest);
        assert_eq!(folders["c"].uploads.len(), 1);
        assert_eq!(folders["d"], Folder::default());
        assert!(!folders.contains_key("other"), "only the run's indices");
    }
}
