//! The schema and its migrations.
//!
//! `PRAGMA user_version` holds how many entries of [`MIGRATIONS`] the file has applied. On open, the
//! missing ones run in order, each in its own transaction together with the version bump, so a crash
//! mid-migration leaves the file at the previous version. A later change appends a migration; an
//! applied migration is never edited.
use rusqlite::Connection;
use std::path::Path;

use crate::error::{Context, Error, Result};

/// The migrations, oldest first. Index `i` moves the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: alerts, incidents, the audit chain, the action journal, plans, the outbox, specialist outcomes,
    // memories.
    r#"
    CREATE TABLE incidents (
        uid            TEXT PRIMARY KEY,
        status         TEXT NOT NULL,
        is_open        INTEGER NOT NULL,
        title          TEXT NOT NULL,
        namespace      TEXT,
        workload       TEXT,
        target         TEXT,
        root_cause     TEXT,
        diagnosis      TEXT,
        opened_at_us   INTEGER NOT NULL,
        updated_at_us  INTEGER NOT NULL,
        resolved_at_us INTEGER
    );
    CREATE INDEX incidents_by_workload ON incidents (namespace, workload, opened_at_us) WHERE is_open = 1;
    CREATE INDEX incidents_by_opened ON incidents (opened_at_us, uid);

    CREATE TABLE alerts (
        id             INTEGER PRIMARY KEY,
        source         TEXT NOT NULL,
        fingerprint    TEXT NOT NULL,
        starts_at_us   INTEGER NOT NULL,
        status         TEXT NOT NULL,
        ends_at_us     INTEGER,
        name           TEXT NOT NULL,
        labels         TEXT NOT NULL,
        annotations    TEXT NOT NULL,
        group_key      TEXT,
        generator_url  TEXT,
        namespace      TEXT,
        workload       TEXT,
        incident_uid   TEXT REFERENCES incidents (uid),
        received_at_us INTEGER NOT NULL,
        updated_at_us  INTEGER NOT NULL,
        -- startsAt first: alerts arrive roughly in startsAt order, so new keys go to the end of the index
        -- instead of to random pages.
        UNIQUE (starts_at_us, fingerprint, source)
    );
    CREATE INDEX alerts_by_incident ON alerts (incident_uid, id);

    -- For each group key and namespace, the incident the group's latest alert joined ('' for alerts
    -- without a namespace).
    CREATE TABLE incident_groups (
        group_key    TEXT NOT NULL,
        namespace    TEXT NOT NULL,
        incident_uid TEXT NOT NULL REFERENCES incidents (uid),
        PRIMARY KEY (group_key, namespace)
    ) WITHOUT ROWID;

    CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY,
        incident_uid TEXT,
        at_us        INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        actor        TEXT NOT NULL,
        summary      TEXT NOT NULL,
        detail       TEXT NOT NULL,
        prev_hash    TEXT NOT NULL,
        hash         TEXT NOT NULL
    );
    CREATE INDEX audit_by_incident ON audit (incident_uid, seq);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    -- The last row of the chain, so that removing rows from the end is detected too.
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT NOT NULL
    );

    CREATE TABLE journal (
        id             INTEGER PRIMARY KEY,
        incident_uid   TEXT NOT NULL,
        plan_id        TEXT NOT NULL,
        step_index     INTEGER NOT NULL,
        rollback       INTEGER NOT NULL,
        action         TEXT NOT NULL,
        state          TEXT NOT NULL,
        intent_at_us   INTEGER NOT NULL,
        applied_at_us  INTEGER,
        finished_at_us INTEGER,
        error          TEXT,
        UNIQUE (plan_id, step_index, rollback)
    );
    CREATE INDEX journal_unfinished ON journal (id) WHERE state IN ('intent', 'applied');
    CREATE INDEX journal_by_incident ON journal (incident_uid, id);

    CREATE TABLE plans (
        id            TEXT PRIMARY KEY,
        incident_uid  TEXT NOT NULL,
        plan          TEXT NOT NULL,
        status        TEXT NOT NULL,
        created_at_us INTEGER NOT NULL,
        decided_by    TEXT,
        decided_at_us INTEGER
    );
    CREATE INDEX plans_pending ON plans (created_at_us) WHERE status = 'pending';

    CREATE TABLE outbox (
        id                 INTEGER PRIMARY KEY,
        incident_uid       TEXT NOT NULL,
        ordering_key       TEXT NOT NULL,
        sink               TEXT NOT NULL,
        payload            TEXT NOT NULL,
        created_at_us      INTEGER NOT NULL,
        attempts           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at_us INTEGER NOT NULL,
        last_error         TEXT,
        sent_at_us         INTEGER
    );
    CREATE INDEX outbox_unsent ON outbox (ordering_key, id) WHERE sent_at_us IS NULL;

    CREATE TABLE specialist_outcomes (
        specialist   TEXT NOT NULL,
        incident_uid TEXT NOT NULL,
        class        TEXT NOT NULL,
        confirmed    INTEGER NOT NULL,
        at_us        INTEGER NOT NULL,
        PRIMARY KEY (specialist, incident_uid, class)
    );

    CREATE TABLE memories (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_uid  TEXT NOT NULL,
        embedder      TEXT NOT NULL,
        dimension     INTEGER NOT NULL,
        vector        BLOB NOT NULL,
        document      TEXT NOT NULL,
        created_at_us INTEGER NOT NULL
    );
    CREATE INDEX memories_by_incident ON memories (incident_uid);
    "#,
    // 2: the guard's ledger: actions per namespace (rate limits), pods touched per incident (blast radius)
    // and verification outcomes per namespace (the circuit breaker), so a restart resets none of them.
    r#"
    CREATE TABLE guard_ledger (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        namespace    TEXT NOT NULL,
        incident_uid TEXT,
        plan_id      TEXT,
        amount       INTEGER NOT NULL,
        at_us        INTEGER NOT NULL
    );
    CREATE INDEX guard_ledger_by_namespace ON guard_ledger (namespace, kind, at_us);
    CREATE INDEX guard_ledger_by_incident ON guard_ledger (incident_uid) WHERE incident_uid IS NOT NULL;
    "#,
    // 3: where each incident's notifications are threaded (the first message's channel and ts, per sink).
    r#"
    CREATE TABLE notify_threads (
        incident_uid  TEXT NOT NULL,
        sink          TEXT NOT NULL,
        channel       TEXT NOT NULL,
        ts            TEXT NOT NULL,
        created_at_us INTEGER NOT NULL,
        PRIMARY KEY (incident_uid, sink)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build of medic writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

pub(crate) fn user_version(conn: &Connection) -> Result<u32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get::<_, u32>(0)).doing("reading the schema version")
}

/// Brings the file at `path` (open on `conn`) up to [`current_version`]. Returns the version it found.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32> {
    let found = user_version(conn)?;
    let known = current_version();
    if found > known {
        return Err(Error::SchemaTooNew { path: path.to_path_buf(), found, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let from = index as u32;
        let to = from + 1;
        let wrap = |source| Error::Migrate { from, to, source };
        let tx = conn.transaction().map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", to).map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        tracing::info!(path = %path.display(), from, to, "migrated the store schema");
    }
    Ok(found)
}
