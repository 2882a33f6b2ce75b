//! Pure rules of the multi-index requests of a run: how names are split into comma lists
//! short enough for a URL, what an index's settings say, and what a batched DELETE did.

use serde_json::Value;

use super::checks::IndexNow;
use crate::clients::search::{Settings, path_segment};

/// Longest comma list of names in one request path: the whole URL stays under ~3 KB.
pub const MAX_LIST_BYTES: usize = 2_900;

/// Splits `names` (order kept) into lists whose encoded comma form is at most `max_bytes`;
/// a single longer name goes alone.
pub fn split_lists(names: &[String], max_bytes: usize) -> Vec<Vec<String>> {
    let mut lists: Vec<Vec<String>> = Vec::new();
    let mut bytes = 0;
    for name in names {
        let len = path_segment(name).len();
        match lists.last_mut() {
            Some(list) if !list.is_empty() && bytes + 1 + len <= max_bytes => {
                list.push(name.clone());
                bytes += 1 + len;
            }
            _ => {
                lists.push(vec![name.clone()]);
                bytes = len;
            }
        }
    }
    lists
}

fn setting<'a>(settings: &'a Settings, key: &str) -> &'a str {
    settings.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The index's UUID.
pub fn uuid(settings: &Settings) -> &str {
    setting(settings, "index.uuid")
}

/// Whether `index.blocks.write` is set.
pub fn write_blocked(settings: &Settings) -> bool {
    setting(settings, "index.blocks.write") == "true"
}

/// What the cluster says of an index right before its delete.
pub fn index_now(settings: &Settings, count: u64) -> IndexNow {
    IndexNow {
        uuid: uuid(settings).to_string(),
        write_blocked: write_blocked(settings),
        count,
    }
}

/// How a batched `DELETE a,b,c` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteAnswer {
    Ok,
    /// 404: a name of the list was missing, so nothing was deleted.
    NotFound,
    /// Anything else (5xx, timeout, no answer): what happened is only known by reading.
    Failed,
}

/// What became of one index of a batched DELETE, from the answer and from reading the
/// cluster afterwards (`still_there`: an index of that name with the archived UUID exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Gone after our DELETE.
    Deleted,
    /// Gone, but the DELETE answered 404: another client removed it before us.
    Vanished,
    /// Still there because another name of the list was missing: check and delete again.
    Retry,
    /// Still there although the DELETE answered, or it failed: the index is kept.
    Kept,
}

pub fn verdict(answer: DeleteAnswer, still_there: bool) -> Verdict {
    match (answer, still_there) {
        (DeleteAnswer::Ok | DeleteAnswer::Failed, false) => Verdict::Deleted,
        (DeleteAnswer::NotFound, false) => Verdict::Vanished,
        (DeleteAnswer::NotFound, true) => Verdict::Retry,
        (DeleteAnswer::Ok | DeleteAnswer::Failed, true) => Verdict::Kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_stay_under_the_limit_and_keep_the_order() {
        let all: Vec<String> = (0..200).map(|i| format!("aindusdb-logs-2026.{i:03}")).collect();
        let lists = split_lists(&all, MAX_LIST_BYTES);
        assert!(lists.len() >= 2);
        assert_eq!(lists.concat(), all, "every name once, in order");
        for list in &lists {
            assert!(crate::clients::search::index_list(list).len() <= MAX_LIST_BYTES);
        }
        assert_eq!(
            split_lists(&names(&["a", "b", "c"]), 3),
            [names(&["a", "b"]), names(&["c"])]
        );
        assert_eq!(
            split_lists(&names(&["long", "b"]), 2),
            [names(&["long"]), names(&["b"])]
        );
        assert!(split_lists(&[], 10).is_empty());
        // Encoded length counts: "a+b" is 5 bytes in a path.
        assert_eq!(split_lists(&names(&["a+b", "c"]), 6), [names(&["a+b"]), names(&["c"])]);
    }

    #[test]
    fn settings_say_uuid_and_block() {
        let settings = json!({"index.uuid": "u1", "index.blocks.write": "true"});
        let settings = settings.as_object().unwrap();
        assert_eq!(
            index_now(settings, 7),
            IndexNow {
                uuid: "u1".into(),
                write_blocked: true,
                count: 7
            }
        );
        let open = json!({"index.uuid": "u1", "index.blocks.write": "false"});
        assert!(!write_blocked(open.as_object().unwrap()));
        assert!(!write_blocked(&Settings::new()));
    }

    #[test]
    fn a_delete_is_believed_only_when_the_index_is_gone() {
        use DeleteAnswer::*;
        assert_eq!(verdict(Ok, false), Verdict::Deleted);
        assert_eq!(verdict(Ok, true), Verdict::Kept, "acknowledged but still there");
        assert_eq!(verdict(Failed, false), Verdict::Deleted, "timed out but done");
        assert_eq!(verdict(Failed, true), Verdict::Kept);
        assert_eq!(verdict(NotFound, true), Verdict::Retry, "another name was missing");
        assert_eq!(verdict(NotFound, false), Verdict::Vanished);
    }
}
