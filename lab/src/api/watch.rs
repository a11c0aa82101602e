//! `?watch=true`: a chunked stream of JSON watch events, one per line.
//!
//! From a resourceVersion: the store's events after it, then live ones (an `ERROR` event with a 410
//! Status when it is older than the history, as the API server sends). Without one (or `0`, or with
//! `sendInitialEvents=true`): synthetic `ADDED` events for the current objects first. Selectors apply
//! to transitions the way the API server applies them: an object that stops matching is `DELETED`, one
//! that starts matching is `ADDED`. Bookmarks when allowed; the stream ends after `timeoutSeconds`.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::json;

use super::handlers::{Filter, Query};
use super::path::ResourcePath;
use super::table::{self, IncludeObject};
use super::{ApiState, response};
use crate::error::{Error, Result};
use crate::store::{EventType, Kind, Object, Store, WatchEvent, WatchReceiver};

/// Watches end after this long when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Rendering {
    kind: Kind,
    filter: Filter,
    table: bool,
    include: IncludeObject,
    store: Arc<Store>,
}

impl Rendering {
    fn line(&self, event_type: &str, object: &Object) -> Bytes {
        let body = if self.table {
            let now = self.store.clock().now();
            let table =
                table::table(self.kind, std::slice::from_ref(object), object.resource_version, None, self.include, now);
            Bytes::from(serde_json::to_vec(&table).unwrap_or_default())
        } else {
            object.json.clone()
        };
        let mut line = BytesMut::with_capacity(body.len() + 32);
        line.put_slice(b"{\"type\":\"");
        line.put_slice(event_type.as_bytes());
        line.put_slice(b"\",\"object\":");
        line.put_slice(&body);
        line.put_slice(b"}\n");
        line.freeze()
    }

    /// The event as this watch's selectors see it, if they see it at all.
    fn event(&self, event: &WatchEvent) -> Option<Bytes> {
        let now = self.filter.matches(&event.object.value);
        let before = event.previous.as_ref().is_some_and(|p| self.filter.matches(&p.value));
        let event_type = match event.event_type {
            EventType::Added => now.then_some("ADDED"),
            EventType::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
            EventType::Deleted => (now || before).then_some("DELETED"),
        }?;
        Some(self.line(event_type, &event.object))
    }

    fn bookmark(&self, revision: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.kind.kind(), "apiVersion": self.kind.api_version(), "metadata": metadata});
        let mut line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

struct WatchState {
    initial: VecDeque<Bytes>,
    receiver: Option<WatchReceiver>,
    pending: Option<WatchEvent>,
    rendering: Rendering,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    bookmarks: Option<tokio::time::Interval>,
}

pub fn watch(state: &ApiState, request: &HttpRequest, target: &ResourcePath, query: &Query) -> Result<HttpResponse> {
    let filter = Filter::from_query(query)?;
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let allow_bookmarks = query.get("allowWatchBookmarks").is_some_and(|v| v == "true" || v == "1");
    let send_initial = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let rendering = Rendering {
        kind: target.kind,
        filter,
        table: response::wants_table(request),
        include: IncludeObject::parse(query.get("includeObject").map(String::as_str)),
        store: state.store.clone(),
    };
    let namespace = target.namespace.as_deref();
    let requested = query.get("resourceVersion").map(String::as_str).unwrap_or_default();
    let mut initial = VecDeque::new();
    let receiver = if requested.is_empty() || requested == "0" || send_initial {
        let (objects, revision) = state.store.list(target.kind, namespace);
        for object in objects.iter().filter(|o| rendering.filter.matches(&o.value)) {
            initial.push_back(rendering.line("ADDED", object));
        }
        if send_initial && allow_bookmarks {
            initial.push_back(rendering.bookmark(revision, true));
        }
        Some(state.store.watch(target.kind, namespace, revision)?)
    } else {
        let since = requested
            .parse::<u64>()
            .map_err(|_| Error::BadRequest(format!("invalid resource version {requested:?}")))?;
        match state.store.watch(target.kind, namespace, since) {
            Ok(receiver) => Some(receiver),
            Err(gone @ Error::Gone { .. }) => {
                let mut line =
                    serde_json::to_vec(&json!({"type": "ERROR", "object": gone.to_status()})).unwrap_or_default();
                line.push(b'\n');
                initial.push_back(Bytes::from(line));
                None
            }
            Err(other) => return Err(other),
        }
    };
    let bookmarks = allow_bookmarks.then(|| {
        let every = state.bookmark_interval;
        tokio::time::interval_at(tokio::time::Instant::now() + every, every)
    });
    let watch_state = WatchState {
        initial,
        receiver,
        pending: None,
        rendering,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        bookmarks,
    };
    let stream = futures::stream::unfold(watch_state, next_line);
    // A body of unknown length: actix sends it with chunked transfer encoding, one chunk per event.
    Ok(HttpResponse::Ok().content_type("application/json").streaming(stream))
}

async fn next_line(mut state: WatchState) -> Option<(Result<Bytes, Infallible>, WatchState)> {
    if let Some(line) = state.initial.pop_front() {
        return Some((Ok(line), state));
    }
    loop {
        if let Some(event) = state.pending.take()
            && let Some(line) = state.rendering.event(&event)
        {
            return Some((Ok(line), state));
        }
        let receiver = state.receiver.as_mut()?;
        tokio::select! {
            biased;
            _ = &mut state.deadline => return None,
            event = receiver.recv() => match event {
                None => return None,
                Some(event) => state.pending = Some(event),
            },
            _ = tick(&mut state.bookmarks) => {
                let revision = state.rendering.store.watch_revision(state.rendering.kind);
                match state.receiver.as_mut().and_then(WatchReceiver::try_recv) {
                    Some(event) => state.pending = Some(event),
                    None => {
                        let line = state.rendering.bookmark(revision, false);
                        return Some((Ok(line), state));
                    }
                }
            }
        }
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}
