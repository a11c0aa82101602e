//! SQLite store: alerts, incidents, audit chain, action journal, notification outbox
#![forbid(unsafe_code)]
