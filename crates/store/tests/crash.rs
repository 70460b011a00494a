//! A process killed with SIGKILL loses nothing it had flushed, and leaves a database that
//! opens cleanly.
//!
//! The test runs its own binary again as the child (only the `crash_child` test, which does
//! nothing unless `STORE_CRASH_DB` is set). The child flushes a known set of calls, says so on
//! stdout, then keeps writing until it is killed, so the kill lands in the middle of work.
//! This covers a crash of the process, not of the machine: what survives power loss depends
//! on the fsync that `synchronous = FULL` performs, which a test cannot cut.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use store::{
    CallOutcome, CallRecord, ConversationKey, Direction, Item, StoreHandle, StoreOptions, Write,
};

const DB_VAR: &str = "STORE_CRASH_DB";
const FLUSHED_MARK: &str = "STORE-CRASH-CHILD-FLUSHED";
const FLUSHED_CALLS: u64 = 200;

fn call(n: u64) -> Write {
    let key = ConversationKey::new("+33100000001", format!("+336{:08}", n % 7));
    Write::Call(
        key,
        CallRecord {
            call_id: format!("call-{n}"),
            direction: Direction::Inbound,
            started_at: n as i64,
            answered_at: None,
            ended_at: Some(n as i64 + 10),
            outcome: CallOutcome::Missed,
            answered_by: None,
            agents_rung: vec!["alice".into()],
            ivr_branch: None,
            ivr_path: None,
            caller_name: None,
            duration_ms: 0,
            voicemail: None,
            crm_name: None,
        },
    )
}

#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(DB_VAR) else {
        return; // a normal test run: nothing to do
    };
    let store = StoreHandle::open(path, StoreOptions::default()).unwrap();
    for n in 0..FLUSHED_CALLS {
        store.submit(call(n)).unwrap();
    }
    store.flush().unwrap();
    println!("{FLUSHED_MARK}");
    // Keep the writer busy until killed; give up on our own if the parent never kills us.
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut n = FLUSHED_CALLS;
    while Instant::now() < give_up {
        let _ = store.submit(call(n));
        n += 1;
        if n.is_multiple_of(64) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn flushed_calls_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(DB_VAR, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let flushed = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(FLUSHED_MARK)); // libtest may print "test crash_child ... " first
    child.kill().unwrap(); // SIGKILL: no destructor, no final commit
    child.wait().unwrap();
    assert!(flushed, "the child never reported its flush");

    let store = StoreHandle::open(&path, StoreOptions::default()).unwrap();
    let mut stored = 0u64;
    for customer in 0..7 {
        let conversation = store
            .conversation("+33100000001", &format!("+336{customer:08}"))
            .unwrap()
            .unwrap();
        stored += conversation
            .items
            .iter()
            .filter(|item| matches!(item, Item::Call(c) if c.started_at < FLUSHED_CALLS as i64))
            .count() as u64;
    }
    assert_eq!(stored, FLUSHED_CALLS);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
