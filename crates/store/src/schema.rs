//! Connection settings and schema migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version` (0 in a new file). `MIGRATIONS[i]`
//! takes a database from version `i` to `i + 1`; each runs in its own transaction together
//! with the version bump, so a crash mid-upgrade leaves the previous version intact. Migrations
//! are append-only: a released one is never edited, a change is a new entry.
//!
//! A database newer than this binary knows is refused rather than guessed at.

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::StoreError;

/// Version `i + 1` is reached by running `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    // 1: conversations and their items. `items.id` is the insertion order that breaks ties
    // between items of the same millisecond; each kind keeps its own columns in a side table
    // keyed by the item.
    r#"
    CREATE TABLE conversations (
        id            INTEGER PRIMARY KEY,
        line          TEXT NOT NULL,
        customer      TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('open', 'closed')),
        assignee      TEXT,
        last_activity INTEGER NOT NULL,
        UNIQUE (line, customer)
    );
    CREATE INDEX conversations_by_activity ON conversations (line, last_activity, id);

    CREATE TABLE items (
        id           INTEGER PRIMARY KEY,
        conversation INTEGER NOT NULL REFERENCES conversations (id),
        kind         TEXT NOT NULL CHECK (kind IN ('call', 'message', 'log')),
        at           INTEGER NOT NULL
    );
    CREATE INDEX items_by_conversation ON items (conversation, at, id);

    CREATE TABLE calls (
        item        INTEGER PRIMARY KEY REFERENCES items (id),
        call_id     TEXT NOT NULL UNIQUE,
        direction   TEXT NOT NULL,
        answered_at INTEGER,
        ended_at    INTEGER,
        outcome     TEXT NOT NULL,
        answered_by TEXT,
        agents_rung TEXT NOT NULL, -- JSON array of user ids
        ivr_branch  TEXT,
        ivr_path    TEXT,
        caller_name TEXT,
        duration_ms INTEGER NOT NULL,
        voicemail   TEXT,
        crm_name    TEXT
    );
    CREATE INDEX calls_by_answerer ON calls (answered_by) WHERE answered_by IS NOT NULL;

    CREATE TABLE messages (
        item        INTEGER PRIMARY KEY REFERENCES items (id),
        sip_call_id TEXT NOT NULL UNIQUE,
        direction   TEXT NOT NULL,
        body        TEXT NOT NULL,
        author      TEXT
    );

    CREATE TABLE logs (
        item   INTEGER PRIMARY KEY REFERENCES items (id),
        action TEXT NOT NULL,
        actor  TEXT,
        detail TEXT
    );
    "#,
    // 2: the header shows the customer's name. Kept on the conversation (updated by each call
    // that brings one) so that listing a line's conversations does not scan their calls; the
    // backfill takes it from the newest call that had one.
    r#"
    ALTER TABLE conversations ADD COLUMN customer_name TEXT;
    UPDATE conversations SET customer_name = (
        SELECT coalesce(calls.crm_name, calls.caller_name)
        FROM items JOIN calls ON calls.item = items.id
        WHERE items.conversation = conversations.id
          AND coalesce(calls.crm_name, calls.caller_name) IS NOT NULL
        ORDER BY items.at DESC, items.id DESC
        LIMIT 1
    );
    "#,
];

/// The version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How hard each commit is pushed to the disk. See the crate documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync of the WAL at every commit: a committed write survives power loss.
    Full,
    /// fsync only at checkpoints: a committed write survives a crash of the process, but the
    /// last commits may be lost on power loss or a kernel crash.
    Normal,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Opens (creating if needed) the database for writing, in WAL mode, migrated to
/// [`SCHEMA_VERSION`].
pub(crate) fn open_writer(
    path: &std::path::Path,
    synchronous: Synchronous,
) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer nor the other way round, and a commit appends to
    // one file instead of rewriting pages in place.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Setup(format!(
            "the database refused WAL mode (journal_mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma_value())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Only one writer exists; this covers a checkpoint racing a reader's snapshot.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&conn, SCHEMA_VERSION)?;
    Ok(conn)
}

/// Opens a read-only connection to a database that [`open_writer`] has prepared.
pub(crate) fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

pub(crate) fn version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    u32::try_from(version).map_err(|_| StoreError::Setup(format!("bad user_version {version}")))
}

/// Applies the migrations from the database's version up to `target`, each in its own
/// transaction.
pub(crate) fn migrate(conn: &Connection, target: u32) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for next in found..target {
        // `unchecked_transaction` because the connection is shared (&Connection); nothing
        // else runs on it during the upgrade.
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(MIGRATIONS[next as usize])?;
        tx.pragma_update(None, "user_version", next + 1)?;
        tx.commit()?;
        tracing::info!(version = next + 1, "store schema migrated");
    }
    Ok(())
}

/// Starts a write transaction that takes the write lock at once (no upgrade from a read lock
/// that could fail with SQLITE_BUSY halfway).
pub(crate) fn begin_write(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_reaches_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("s.db"), Synchronous::Full).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        match open_writer(&path, Synchronous::Full) {
            Err(StoreError::NewerSchema { found, known }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_migration_leaves_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("s.db")).unwrap();
        migrate(&conn, 1).unwrap();
        // Make migration 2 fail: the column it adds already exists.
        conn.execute_batch("ALTER TABLE conversations ADD COLUMN customer_name TEXT")
            .unwrap();
        assert!(migrate(&conn, SCHEMA_VERSION).is_err());
        assert_eq!(version(&conn).unwrap(), 1);
    }
}
