//! The store's tests, against real SQLite files in temp dirs.
mod audit;
mod common;
mod crash;
mod intake;
mod journal;
mod memories;
mod outbox;
mod plans;
mod properties;
mod schema;
mod track_record;
