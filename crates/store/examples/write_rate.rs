//! Store write rate for a typical call: one call record and two system logs.
//!
//! ```text
//! cargo run --release -p store --example write_rate -- [CALLS] [DIR]
//! ```
//!
//! Four runs, each on a fresh database in DIR (default: a temporary directory under the system
//! temp dir; point it at the disk that will hold the store, since fsync cost is the point):
//!
//! - `burst`: CALLS calls submitted as fast as the queue takes them (a full queue is retried
//!   after 100 µs, and counted), then one flush; the writer batches what piles up.
//! - `one by one`: each call flushed before the next is submitted, so every call pays its own
//!   commit (and, with FULL, its own fsync): the rate of a quiet node.
//!
//! each with `synchronous = FULL` (the default) and `NORMAL`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use store::{
    CallOutcome, CallRecord, ConversationKey, Direction, LogAction, StoreHandle, StoreOptions,
    Synchronous, SystemLog, Write,
};

fn typical_call(n: u64) -> [Write; 3] {
    // 1 000 customers on 4 lines, so conversations grow as on a real node.
    let key = ConversationKey::new(
        format!("+3310000000{}", n % 4),
        format!("+3360{:07}", n % 1_000),
    );
    let at = 1_700_000_000_000 + n as i64 * 1_000;
    let log = |action, at| SystemLog {
        action,
        actor: Some("alice".into()),
        detail: Some("bob".into()),
        at,
    };
    [
        Write::Log(key.clone(), log(LogAction::Declined, at + 5_000)),
        Write::Call(
            key.clone(),
            CallRecord {
                call_id: format!("call-{n}"),
                direction: Direction::Inbound,
                started_at: at,
                answered_at: Some(at + 8_000),
                ended_at: Some(at + 98_000),
                outcome: CallOutcome::Answered,
                answered_by: Some("alice".into()),
                agents_rung: vec!["bob".into(), "alice".into()],
                ivr_branch: Some("Support".into()),
                ivr_path: Some("main:2".into()),
                caller_name: Some("Jeanne Dupont".into()),
                duration_ms: 90_000,
                voicemail: None,
                crm_name: Some("Jeanne Dupont".into()),
            },
        ),
        Write::Log(key, log(LogAction::Transferred, at + 60_000)),
    ]
}

/// Submits, retrying while the queue is full; returns how many times it was.
fn submit_all(store: &StoreHandle, writes: [Write; 3]) -> u64 {
    let mut full = 0;
    for write in writes {
        loop {
            match store.submit(write.clone()) {
                Ok(()) => break,
                Err(store::SubmitError::Full) => {
                    // Sleep rather than spin: on a small machine a spinning producer steals
                    // the writer's core.
                    full += 1;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(store::SubmitError::Closed) => panic!("store writer stopped"),
            }
        }
    }
    full
}

fn run(dir: &std::path::Path, name: &str, calls: u64, synchronous: Synchronous, one_by_one: bool) {
    let path = dir.join(format!("{}.db", name.replace(' ', "-")));
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file); // a fresh database each run
    }
    let options = StoreOptions {
        synchronous,
        ..StoreOptions::default()
    };
    let store = StoreHandle::open(&path, options).expect("open the store");
    let start = Instant::now();
    let mut full = 0;
    for n in 0..calls {
        full += submit_all(&store, typical_call(n));
        if one_by_one {
            store.flush().expect("flush");
        }
    }
    store.flush().expect("flush");
    let elapsed = start.elapsed();
    let stats = store.stats();
    assert_eq!(stats.committed, calls * 3, "every write committed");
    println!(
        "{name:<18} {calls:>7} calls in {:>7.3} s = {:>8.0} calls/s ({:>8.0} writes/s), \
         {} transactions, queue full {} times (retried)",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        (calls * 3) as f64 / elapsed.as_secs_f64(),
        stats.batches,
        full,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = args
        .next()
        .map(|a| a.parse().expect("CALLS: a number"))
        .unwrap_or(20_000);
    let temp;
    let dir: PathBuf = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir().expect("temp dir");
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    println!(
        "store write rate, typical call = 1 call record + 2 logs, in {}",
        dir.display()
    );
    let one_by_one = (calls / 10).max(1);
    run(&dir, "burst FULL", calls, Synchronous::Full, false);
    run(&dir, "burst NORMAL", calls, Synchronous::Normal, false);
    run(&dir, "one by one FULL", one_by_one, Synchronous::Full, true);
    run(
        &dir,
        "one by one NORMAL",
        one_by_one,
        Synchronous::Normal,
        true,
    );
}
