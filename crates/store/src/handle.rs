//! [`StoreHandle`]: the writer thread, its queue, and the read connections.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::db;
use crate::model::{Conversation, ConversationHeader, ConversationKey, UnixMs, UserCall, Write};
use crate::schema::{self, Synchronous};
use crate::{StoreError, SubmitError};

/// How the store is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Writes waiting for the writer thread; past this, [`StoreHandle::submit`] refuses.
    pub queue: usize,
    /// Most writes committed in one transaction (bounds how long a commit holds the lock).
    pub max_batch: usize,
    /// Read connections kept open between reads (more are opened on demand, then closed).
    pub idle_readers: usize,
    pub synchronous: Synchronous,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            // About a minute of a busy node's call ends; the writer drains thousands a second.
            queue: 8192,
            max_batch: 1024,
            idle_readers: 4,
            synchronous: Synchronous::Full,
        }
    }
}

/// Counters since the store was opened, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Writes accepted by [`StoreHandle::submit`].
    pub submitted: u64,
    /// Writes refused because the queue was full (lost).
    pub dropped: u64,
    /// Writes committed.
    pub committed: u64,
    /// Writes that failed (rolled back alone, or lost with a failed commit).
    pub failed: u64,
    /// Transactions committed.
    pub batches: u64,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    dropped: AtomicU64,
    committed: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
}

enum Command {
    /// Boxed: the queue preallocates its slots, and a call record is a few hundred bytes.
    Write(Box<Write>),
    /// Answered once everything queued before it is committed: `Ok` unless a commit failed.
    Flush(SyncSender<Result<(), String>>),
    /// Commit what is queued and stop.
    Shutdown,
}

/// The store, shared: clone it freely (an `Arc` inside). When the last clone is dropped, the
/// writer commits what is queued and stops, and the drop waits for it.
#[derive(Clone)]
pub struct StoreHandle {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    queue: SyncSender<Command>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    idle_readers: usize,
    counters: Arc<Counters>,
}

impl StoreHandle {
    /// Opens (creating it and its directory if needed) the database at `path`, migrates it,
    /// and starts the writer thread.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<StoreHandle, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = schema::open_writer(&path, options.synchronous)?;
        // Open one reader now so that a path readers cannot use fails here, not at the
        // first read.
        let reader = schema::open_reader(&path)?;

        let (queue, commands) = mpsc::sync_channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let thread = {
            let counters = Arc::clone(&counters);
            let max_batch = options.max_batch.max(1);
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || run_writer(writer, commands, max_batch, &counters))
                .map_err(|e| StoreError::Setup(format!("cannot start the writer thread: {e}")))?
        };
        Ok(StoreHandle {
            inner: Arc::new(Inner {
                path,
                queue,
                writer: Mutex::new(Some(thread)),
                readers: Mutex::new(vec![reader]),
                idle_readers: options.idle_readers,
                counters,
            }),
        })
    }

    /// Queues a write. Never blocks: when the queue is full the write is dropped, counted in
    /// [`StoreStats::dropped`], and [`SubmitError::Full`] returned. The signalling path must
    /// not wait for a disk; a full queue means the disk is far behind, and the call goes on.
    pub fn submit(&self, write: Write) -> Result<(), SubmitError> {
        match self.inner.queue.try_send(Command::Write(Box::new(write))) {
            Ok(()) => {
                self.inner
                    .counters
                    .submitted
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("store queue full: write dropped");
                Err(SubmitError::Full)
            }
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Closed),
        }
    }

    /// Assigns the conversation to `user` (`None`: unassigns); logged with `actor`.
    pub fn assign(
        &self,
        key: ConversationKey,
        user: Option<String>,
        actor: Option<String>,
        at: UnixMs,
    ) -> Result<(), SubmitError> {
        self.submit(Write::Assign {
            key,
            user,
            actor,
            at,
        })
    }

    /// Closes the conversation; logged with `actor`.
    pub fn close(
        &self,
        key: ConversationKey,
        actor: Option<String>,
        at: UnixMs,
    ) -> Result<(), SubmitError> {
        self.submit(Write::Close { key, actor, at })
    }

    /// Reopens the conversation; logged with `actor`.
    pub fn reopen(
        &self,
        key: ConversationKey,
        actor: Option<String>,
        at: UnixMs,
    ) -> Result<(), SubmitError> {
        self.submit(Write::Reopen { key, actor, at })
    }

    /// Blocks until every write submitted before this call is committed (or has failed).
    /// For tests and shutdown; it may wait for room in the queue.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = mpsc::sync_channel(1);
        self.inner
            .queue
            .send(Command::Flush(done))
            .map_err(|_| StoreError::Closed)?;
        wait.recv()
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Commit)
    }

    /// The conversation between `line` and `customer`, items oldest first. Blocking (a disk
    /// read): from async code, call it inside `tokio::task::spawn_blocking`.
    pub fn conversation(
        &self,
        line: &str,
        customer: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        self.read(|conn| db::conversation(conn, line, customer))
    }

    /// Up to `limit` conversations of `line`, most recent activity first. Blocking.
    pub fn conversations(
        &self,
        line: &str,
        limit: usize,
    ) -> Result<Vec<ConversationHeader>, StoreError> {
        self.read(|conn| db::conversations(conn, line, limit))
    }

    /// Up to `limit` calls answered by `user`, newest first. Blocking.
    pub fn calls_of_user(&self, user: &str, limit: usize) -> Result<Vec<UserCall>, StoreError> {
        self.read(|conn| db::calls_of_user(conn, user, limit))
    }

    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        StoreStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            committed: c.committed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
        }
    }

    /// Runs `read` on an idle read connection, opening one if none is idle. The pool lock is
    /// held only to take and give back a connection, never during the query.
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = lock(&self.inner.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.inner.path)?,
        };
        let result = read(&conn);
        let mut readers = lock(&self.inner.readers);
        if readers.len() < self.inner.idle_readers {
            readers.push(conn);
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: let the writer commit what is queued, then wait for it so
        // that a store reopened right after sees everything.
        let _ = self.queue.send(Command::Shutdown);
        if let Some(thread) = lock(&self.writer).take() {
            if thread.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

/// A poisoned lock only means another thread panicked while holding a `Vec` of connections
/// or a join handle; both are still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The writer thread: waits for a command, takes whatever else is already queued (up to
/// `max_batch` writes), commits it as one transaction, then answers the flushes.
fn run_writer(
    mut conn: Connection,
    commands: Receiver<Command>,
    max_batch: usize,
    counters: &Counters,
) {
    let mut writes: Vec<Write> = Vec::with_capacity(max_batch);
    let mut flushes: Vec<SyncSender<Result<(), String>>> = Vec::new();
    loop {
        let mut stop = match commands.recv() {
            Ok(command) => take(command, &mut writes, &mut flushes),
            Err(_) => true,
        };
        while !stop && writes.len() < max_batch {
            match commands.try_recv() {
                Ok(command) => stop = take(command, &mut writes, &mut flushes),
                Err(_) => break,
            }
        }
        let outcome = commit(&mut conn, &writes, counters);
        writes.clear();
        for flush in flushes.drain(..) {
            let _ = flush.send(outcome.clone());
        }
        if stop {
            break;
        }
    }
}

/// Sorts a command into the batch; `true` when it asks the writer to stop.
fn take(
    command: Command,
    writes: &mut Vec<Write>,
    flushes: &mut Vec<SyncSender<Result<(), String>>>,
) -> bool {
    match command {
        Command::Write(write) => writes.push(*write),
        Command::Flush(done) => flushes.push(done),
        Command::Shutdown => return true,
    }
    false
}

/// Commits `writes` in one transaction. Each write runs in its own savepoint, so a write that
/// fails is rolled back alone and the rest of the batch still commits.
fn commit(conn: &mut Connection, writes: &[Write], counters: &Counters) -> Result<(), String> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut failed = 0u64;
    let result = (|| -> rusqlite::Result<()> {
        let mut tx = schema::begin_write(conn)?;
        for write in writes {
            let savepoint = tx.savepoint()?;
            match db::apply(&savepoint, write) {
                Ok(()) => savepoint.commit()?,
                Err(error) => {
                    failed += 1;
                    tracing::error!(%error, "store write failed");
                    // The savepoint's drop behaviour is rollback: undo this write, then release.
                    savepoint.finish()?;
                }
            }
        }
        tx.commit()
    })();
    let total = writes.len() as u64;
    match result {
        Ok(()) => {
            counters
                .committed
                .fetch_add(total - failed, Ordering::Relaxed);
            counters.failed.fetch_add(failed, Ordering::Relaxed);
            counters.batches.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(error) => {
            counters.failed.fetch_add(total, Ordering::Relaxed);
            tracing::error!(%error, writes = total, "store commit failed: batch lost");
            Err(error.to_string())
        }
    }
}
