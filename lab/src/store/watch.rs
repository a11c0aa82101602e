//! Watch events and the receiving end of a watch.
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::Object;

/// The `type` of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The JSON spelling: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, in resourceVersion order within its kind.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub event_type: EventType,
    /// The object after the change; for `Deleted`, its last state carrying the deletion's resourceVersion.
    pub object: Object,
    /// The object before the change (`None` for `Added`). Lets a selector-filtered watch turn an object
    /// that stops matching into a `DELETED` event, as the API server does.
    pub previous: Option<Object>,
}

impl WatchEvent {
    pub fn resource_version(&self) -> u64 {
        self.object.resource_version
    }
}

/// The receiving end of [`Store::watch`](super::Store::watch): first the replayed events after the
/// requested resourceVersion, then live ones. Ends when the store is dropped.
#[derive(Debug)]
pub struct WatchReceiver {
    pub(super) rx: mpsc::UnboundedReceiver<WatchEvent>,
}

impl WatchReceiver {
    /// The next event; `None` once the store is gone.
    pub async fn recv(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }
}

impl Stream for WatchReceiver {
    type Item = WatchEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchEvent>> {
        self.rx.poll_recv(cx)
    }
}
