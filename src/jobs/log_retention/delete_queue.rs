//! The delete coalescer: indices whose archive is verified wait here; each pass re-reads all
//! waiting ones (settings, refresh, `_count`), deletes those that pass with one `DELETE a,b,c`.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::batch::{self, DeleteAnswer, MAX_LIST_BYTES, Verdict};
use super::checks;
use super::lock::RunLock;
use crate::clients::error::Transience;
use crate::clients::http::HttpError;
use crate::clients::search::{SearchClient, plain_name};
use crate::jobs::JobError;

/// A pass re-checks the indices a 404 left in place this many times before giving up.
const ROUNDS: usize = 3;

/// An index waiting for its delete, with what its verified archive holds.
pub struct Request {
    index: String,
    archived_uuid: Option<String>,
    archived_count: u64,
    queued: Instant,
    reply: oneshot::Sender<Result<Deleted, JobError>>,
}

/// How an index's delete went: its share of the pass (the pass's seconds over its indices),
/// how long it waited from queueing to the answer, and how many indices the pass held.
#[derive(Debug, Clone, Copy)]
pub struct Deleted {
    pub share_seconds: f64,
    pub waited_seconds: f64,
    pub batch: usize,
}

/// The sending side, one per run; [`serve`] ends once it is dropped.
pub struct DeleteQueue {
    tx: mpsc::UnboundedSender<Request>,
}

pub fn channel() -> (DeleteQueue, mpsc::UnboundedReceiver<Request>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (DeleteQueue { tx }, rx)
}

fn fatal(message: String) -> JobError {
    JobError::fatal(anyhow::anyhow!(message))
}

/// One error per index from one HTTP error, classified like it.
fn copy(index: &str, what: &str, error: &HttpError) -> JobError {
    let message = anyhow::anyhow!("{index}: {what}: {error}; index kept");
    if error.is_transient() {
        JobError::Transient(message)
    } else {
        JobError::Fatal(message)
    }
}

impl DeleteQueue {
    /// Deletes `index` once it is re-read unchanged since its archive (same UUID, still
    /// write-blocked, same `_count`), together with the other indices waiting then.
    pub async fn delete(
        &self,
        index: &str,
        archived_uuid: Option<&str>,
        archived_count: u64,
    ) -> Result<Deleted, JobError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            index: index.to_string(),
            archived_uuid: archived_uuid.map(str::to_string),
            archived_count,
            queued: Instant::now(),
            reply,
        };
        self.tx
            .send(request)
            .map_err(|_| fatal(format!("{index}: the delete queue is closed; index kept")))?;
        answer
            .await
            .map_err(|_| fatal(format!("{index}: the delete queue stopped; index kept")))?
    }
}

/// Serves the queue until its sender is dropped: whatever waits when a pass starts goes into
/// that pass (lists of ~3 KB), so deletes coalesce as indices finish while one is running.
pub async fn serve(mut rx: mpsc::UnboundedReceiver<Request>, search: &SearchClient, lock: &RunLock) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(next) = rx.try_recv() {
            waiting.push(next);
        }
        let names: Vec<String> = waiting.iter().map(|r| r.index.clone()).collect();
        for list in batch::split_lists(&names, MAX_LIST_BYTES) {
            let (part, rest): (Vec<Request>, Vec<Request>) = waiting.into_iter().partition(|r| list.contains(&r.index));
            waiting = rest;
            pass(search, lock, part).await;
        }
    }
}

/// Re-checks and deletes `waiting`, answering each request.
async fn pass(search: &SearchClient, lock: &RunLock, mut waiting: Vec<Request>) {
    let started = Instant::now();
    let size = waiting.len();
    let mut deleted: Vec<Request> = Vec::new();
    for _ in 0..ROUNDS {
        if waiting.is_empty() {
            break;
        }
        waiting = round(search, lock, waiting, &mut deleted).await;
    }
    for request in waiting {
        let message = format!(
            "{}: still there after {ROUNDS} delete attempts (other indices of the list kept vanishing); index kept",
            request.index
        );
        let _ = request.reply.send(Err(fatal(message)));
    }
    let seconds = started.elapsed().as_secs_f64();
    info!(
        message = "indices re-checked and deleted",
        indices = size,
        deleted = deleted.len(),
        seconds
    );
    for request in deleted {
        let _ = request.reply.send(Ok(Deleted {
            share_seconds: seconds / size as f64,
            waited_seconds: request.queued.elapsed().as_secs_f64(),
            batch: size,
        }));
    }
}

/// One round: re-read every waiting index, answer those refused, delete the others in one
/// request, read which are gone. Returns the indices to try again (a 404 of another name).
async fn round(
    search: &SearchClient,
    lock: &RunLock,
    waiting: Vec<Request>,
    deleted: &mut Vec<Request>,
) -> Vec<Request> {
    if let Err(error) = lock.check() {
        let message = error.to_string();
        for request in waiting {
            let _ = request
                .reply
                .send(Err(fatal(format!("{}: {message}; index kept", request.index))));
        }
        return Vec::new();
    }
    let names: Vec<String> = waiting.iter().map(|r| r.index.clone()).collect();
    let now = search.settings_of(&names).await;
    let refreshed = match &now {
        Ok(now) => {
            let present: Vec<String> = names.iter().filter(|n| now.contains_key(*n)).cloned().collect();
            search.refresh_of(&present).await.map(|()| present)
        }
        Err(_) => Ok(Vec::new()),
    };
    let (now, present) = match (now, refreshed) {
        (Ok(now), Ok(present)) => (now, present),
        (Err(error), _) | (_, Err(error)) => {
            for request in waiting {
                let _ = request
                    .reply
                    .send(Err(copy(&request.index, "re-read before delete", &error)));
            }
            return Vec::new();
        }
    };
    let mut counts: BTreeMap<String, Result<u64, HttpError>> = futures::stream::iter(present)
        .map(|index| async move {
            let count = search.count(&index).await;
            (index, count)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut passed: Vec<Request> = Vec::new();
    for request in waiting {
        let index = request.index.as_str();
        let check = match (now.get(index), counts.remove(index)) {
            (None, _) | (_, None) => Err(fatal(format!(
                "{index}: no longer in the cluster before its delete (deleted by someone else?); \
                 its archive is complete"
            ))),
            (Some(_), Some(Err(error))) => Err(copy(index, "_count before delete", &error)),
            (Some(settings), Some(Ok(count))) if plain_name(index) => checks::may_delete(
                index,
                &batch::index_now(settings, count),
                request.archived_uuid.as_deref(),
                request.archived_count,
            )
            .map_err(fatal),
            (Some(_), Some(Ok(_))) => Err(fatal(format!("{index}: not a plain index name; index kept"))),
        };
        match check {
            Ok(()) => passed.push(request),
            Err(error) => {
                let _ = request.reply.send(Err(error));
            }
        }
    }
    delete_checked(search, passed, deleted).await
}

/// Deletes `passed` (each re-checked a moment ago) in one request, then reads which are
/// really gone: the answer alone is never trusted. Returns those to try again.
async fn delete_checked(search: &SearchClient, passed: Vec<Request>, deleted: &mut Vec<Request>) -> Vec<Request> {
    if passed.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = passed.iter().map(|r| r.index.clone()).collect();
    let answer = search.delete_indices(&names).await;
    let kind = match &answer {
        Ok(()) => DeleteAnswer::Ok,
        Err(error) if error.status() == Some(reqwest::StatusCode::NOT_FOUND) => DeleteAnswer::NotFound,
        Err(_) => DeleteAnswer::Failed,
    };
    let after = match search.settings_of(&names).await {
        Ok(after) => after,
        Err(error) => {
            for request in passed {
                let what = "cannot read whether the DELETE removed it (a rerun resumes)";
                let _ = request.reply.send(Err(copy(&request.index, what, &error)));
            }
            return Vec::new();
        }
    };
    let mut again = Vec::new();
    for request in passed {
        let index = request.index.as_str();
        let still_there = after
            .get(index)
            .is_some_and(|settings| Some(batch::uuid(settings)) == request.archived_uuid.as_deref());
        let failed = |what: &str| match &answer {
            Err(error) => copy(index, what, error),
            Ok(()) => fatal(format!("{index}: {what}; index kept")),
        };
        match batch::verdict(kind, still_there) {
            Verdict::Deleted => deleted.push(request),
            Verdict::Retry => again.push(request),
            Verdict::Vanished => {
                let error = fatal(format!(
                    "{index}: vanished between its re-check and the delete (deleted by someone else?); \
                     its archive is complete"
                ));
                let _ = request.reply.send(Err(error));
            }
            Verdict::Kept => {
                let _ = request.reply.send(Err(failed("still in the cluster after the DELETE")));
            }
        }
    }
    again
}
