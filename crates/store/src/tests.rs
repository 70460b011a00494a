//! The store through its handle, on a temporary directory.

use super::*;

const LINE: &str = "+33100000001";
const CUSTOMER: &str = "+33600000002";

fn key() -> ConversationKey {
    ConversationKey::new(LINE, CUSTOMER)
}

fn open(dir: &tempfile::TempDir) -> StoreHandle {
    StoreHandle::open(
        dir.path().join("var/switchboard.db"),
        StoreOptions::default(),
    )
    .unwrap()
}

fn answered_call(call_id: &str, started_at: UnixMs) -> CallRecord {
    CallRecord {
        call_id: call_id.into(),
        direction: Direction::Inbound,
        started_at,
        answered_at: Some(started_at + 4_000),
        ended_at: Some(started_at + 64_000),
        outcome: CallOutcome::Answered,
        answered_by: Some("alice".into()),
        agents_rung: vec!["alice".into(), "bob".into()],
        ivr_branch: Some("Sales".into()),
        ivr_path: Some("main:1;sales:2".into()),
        caller_name: Some("J. Dupont".into()),
        duration_ms: 60_000,
        voicemail: None,
        crm_name: Some("Jeanne Dupont".into()),
    }
}

fn missed_call(call_id: &str, started_at: UnixMs) -> CallRecord {
    CallRecord {
        call_id: call_id.into(),
        direction: Direction::Inbound,
        started_at,
        answered_at: None,
        ended_at: Some(started_at + 20_000),
        outcome: CallOutcome::Voicemail,
        answered_by: None,
        agents_rung: vec!["bob".into()],
        ivr_branch: None,
        ivr_path: None,
        caller_name: None,
        duration_ms: 0,
        voicemail: Some("var/voicemail/c2.wav".into()),
        crm_name: None,
    }
}

fn message(sip_call_id: &str, direction: Direction, at: UnixMs) -> Message {
    Message {
        sip_call_id: sip_call_id.into(),
        direction,
        body: format!("hello from {sip_call_id}"),
        author: (direction == Direction::Outbound).then(|| "alice".to_owned()),
        at,
    }
}

fn log(action: LogAction, at: UnixMs) -> SystemLog {
    SystemLog {
        action,
        actor: Some("alice".into()),
        detail: Some("to bob".into()),
        at,
    }
}

fn items(store: &StoreHandle) -> Vec<Item> {
    store.conversation(LINE, CUSTOMER).unwrap().unwrap().items
}

fn log_actions(store: &StoreHandle) -> Vec<LogAction> {
    items(store)
        .into_iter()
        .filter_map(|item| match item {
            Item::Log(log) => Some(log.action),
            _ => None,
        })
        .collect()
}

#[test]
fn each_item_kind_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let call = answered_call("c1", 1_000);
    let voicemail = missed_call("c2", 2_000);
    let sms_in = message("m1@carrier", Direction::Inbound, 3_000);
    let sms_out = message("m2@switchboard", Direction::Outbound, 4_000);
    let transfer = log(LogAction::Transferred, 5_000);
    store.submit(Write::Call(key(), call.clone())).unwrap();
    store.submit(Write::Call(key(), voicemail.clone())).unwrap();
    store.submit(Write::Message(key(), sms_in.clone())).unwrap();
    store
        .submit(Write::Message(key(), sms_out.clone()))
        .unwrap();
    store.submit(Write::Log(key(), transfer.clone())).unwrap();
    store.flush().unwrap();

    let conversation = store.conversation(LINE, CUSTOMER).unwrap().unwrap();
    assert_eq!(
        conversation.header,
        ConversationHeader {
            line: LINE.into(),
            customer: CUSTOMER.into(),
            customer_name: Some("Jeanne Dupont".into()),
            state: ConversationState::Open,
            assignee: None,
            last_activity: 5_000,
        }
    );
    assert_eq!(
        conversation.items,
        vec![
            Item::Call(call),
            Item::Call(voicemail),
            Item::Message(sms_in),
            Item::Message(sms_out),
            Item::Log(transfer),
        ]
    );
    assert_eq!(store.conversation(LINE, "+33699999999").unwrap(), None);
    let stats = store.stats();
    assert_eq!((stats.submitted, stats.committed, stats.failed), (5, 5, 0));
}

#[test]
fn items_sort_by_time_then_insertion() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // Submitted out of time order; two share a millisecond.
    store
        .submit(Write::Log(key(), log(LogAction::Declined, 3_000)))
        .unwrap();
    store
        .submit(Write::Call(key(), answered_call("c1", 1_000)))
        .unwrap();
    store
        .submit(Write::Message(
            key(),
            message("m1", Direction::Inbound, 3_000),
        ))
        .unwrap();
    store
        .submit(Write::Log(key(), log(LogAction::Transferred, 3_000)))
        .unwrap();
    store.flush().unwrap();

    let order: Vec<(&str, UnixMs)> = items(&store)
        .iter()
        .map(|item| match item {
            Item::Call(_) => ("call", item.at()),
            Item::Message(_) => ("message", item.at()),
            Item::Log(log) => (log.action.as_str(), item.at()),
        })
        .collect();
    assert_eq!(
        order,
        [
            ("call", 1_000),
            ("declined", 3_000),
            ("message", 3_000),
            ("transferred", 3_000)
        ]
    );
    // The late write of an older item does not move the activity back.
    let header = &store.conversations(LINE, 10).unwrap()[0];
    assert_eq!(header.last_activity, 3_000);
}

#[test]
fn a_retransmitted_message_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = message("same-call-id", Direction::Inbound, 1_000);
    let mut again = first.clone();
    again.at = 1_500; // the retransmission arrives later
    store.submit(Write::Message(key(), first.clone())).unwrap();
    store.flush().unwrap();
    store.submit(Write::Message(key(), again)).unwrap();
    store.flush().unwrap();
    assert_eq!(items(&store), vec![Item::Message(first)]);
    assert_eq!(store.stats().failed, 0);
}

#[test]
fn a_call_written_again_is_replaced_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut call = missed_call("c1", 1_000);
    store.submit(Write::Call(key(), call.clone())).unwrap();
    store
        .submit(Write::Log(key(), log(LogAction::Transferred, 2_000)))
        .unwrap();
    call.voicemail = Some("var/voicemail/c1-final.wav".into());
    store.submit(Write::Call(key(), call.clone())).unwrap();
    store.flush().unwrap();

    let items = items(&store);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], Item::Call(call));
}

#[test]
fn actions_change_the_header_and_log_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let alice = Some("alice".to_owned());
    let boss = Some("boss".to_owned());
    store
        .submit(Write::Call(key(), answered_call("c1", 1_000)))
        .unwrap();
    store
        .assign(key(), alice.clone(), boss.clone(), 2_000)
        .unwrap();
    store
        .assign(key(), alice.clone(), boss.clone(), 2_001)
        .unwrap(); // already hers
    store.close(key(), alice.clone(), 3_000).unwrap();
    store.close(key(), alice.clone(), 3_001).unwrap(); // already closed
    store.flush().unwrap();

    let conversation = store.conversation(LINE, CUSTOMER).unwrap().unwrap();
    assert_eq!(conversation.header.assignee, alice);
    assert_eq!(conversation.header.state, ConversationState::Closed);
    let logs: Vec<SystemLog> = conversation
        .items
        .into_iter()
        .filter_map(|item| match item {
            Item::Log(log) => Some(log),
            _ => None,
        })
        .collect();
    assert_eq!(
        logs,
        vec![
            SystemLog {
                action: LogAction::Assigned,
                actor: boss.clone(),
                detail: alice.clone(),
                at: 2_000
            },
            SystemLog {
                action: LogAction::Closed,
                actor: alice.clone(),
                detail: None,
                at: 3_000
            },
        ]
    );

    store.assign(key(), None, boss.clone(), 4_000).unwrap();
    store.flush().unwrap();
    let conversation = store.conversation(LINE, CUSTOMER).unwrap().unwrap();
    assert_eq!(conversation.header.assignee, None);
    assert_eq!(
        conversation.items.last(),
        Some(&Item::Log(SystemLog {
            action: LogAction::Unassigned,
            actor: boss,
            detail: alice,
            at: 4_000
        }))
    );
}

#[test]
fn a_closed_conversation_reopens_by_hand_or_by_the_customer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let alice = Some("alice".to_owned());
    store.close(key(), alice.clone(), 1_000).unwrap();
    store.reopen(key(), alice.clone(), 2_000).unwrap();
    store.reopen(key(), alice.clone(), 2_001).unwrap(); // already open
    store.close(key(), alice.clone(), 3_000).unwrap();
    // Our own outbound message does not reopen it; the customer's answer does.
    store
        .submit(Write::Message(
            key(),
            message("m1", Direction::Outbound, 4_000),
        ))
        .unwrap();
    store.flush().unwrap();
    assert_eq!(
        store
            .conversation(LINE, CUSTOMER)
            .unwrap()
            .unwrap()
            .header
            .state,
        ConversationState::Closed
    );
    store
        .submit(Write::Message(
            key(),
            message("m2", Direction::Inbound, 5_000),
        ))
        .unwrap();
    store.close(key(), alice.clone(), 6_000).unwrap();
    store
        .submit(Write::Call(key(), missed_call("c1", 7_000)))
        .unwrap();
    store.flush().unwrap();

    assert_eq!(
        log_actions(&store),
        [
            LogAction::Closed,
            LogAction::Reopened,
            LogAction::Closed,
            LogAction::Reopened,
            LogAction::Closed,
            LogAction::Reopened,
        ]
    );
    let items = items(&store);
    let Some(Item::Log(reopen)) = items.last() else {
        panic!("expected the automatic reopen last: {items:?}");
    };
    assert_eq!(reopen.actor, None);
    assert_eq!(reopen.detail.as_deref(), Some("inbound call"));
    assert_eq!(
        store
            .conversation(LINE, CUSTOMER)
            .unwrap()
            .unwrap()
            .header
            .state,
        ConversationState::Open
    );
}

#[test]
fn reopening_or_unassigning_nothing_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.reopen(key(), None, 1_000).unwrap();
    store.assign(key(), None, None, 1_000).unwrap();
    store.flush().unwrap();
    assert_eq!(store.conversation(LINE, CUSTOMER).unwrap(), None);
}

#[test]
fn a_line_lists_its_conversations_newest_activity_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for (customer, at) in [("+331", 3_000), ("+332", 1_000), ("+333", 2_000)] {
        let key = ConversationKey::new(LINE, customer);
        store
            .submit(Write::Call(key, missed_call(customer, at)))
            .unwrap();
    }
    // Activity on the oldest moves it to the top; another line's conversation never shows.
    store
        .submit(Write::Message(
            ConversationKey::new(LINE, "+332"),
            message("m1", Direction::Inbound, 4_000),
        ))
        .unwrap();
    store
        .submit(Write::Call(
            ConversationKey::new("+33100000009", "+334"),
            missed_call("other-line", 9_000),
        ))
        .unwrap();
    store.flush().unwrap();

    let customers = |limit| -> Vec<String> {
        store
            .conversations(LINE, limit)
            .unwrap()
            .into_iter()
            .map(|header| header.customer)
            .collect()
    };
    assert_eq!(customers(10), ["+332", "+331", "+333"]);
    assert_eq!(customers(2), ["+332", "+331"]);
}

#[test]
fn a_user_sees_the_calls_they_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let other = ConversationKey::new(LINE, "+33611111111");
    store
        .submit(Write::Call(key(), answered_call("c1", 1_000)))
        .unwrap();
    store
        .submit(Write::Call(key(), missed_call("c2", 2_000)))
        .unwrap();
    store
        .submit(Write::Call(other.clone(), answered_call("c3", 3_000)))
        .unwrap();
    store.flush().unwrap();

    let calls = store.calls_of_user("alice", 10).unwrap();
    let ids: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.customer.as_str(), c.call.call_id.as_str()))
        .collect();
    assert_eq!(ids, [("+33611111111", "c3"), (CUSTOMER, "c1")]);
    assert_eq!(calls[1].call, answered_call("c1", 1_000));
    assert!(store.calls_of_user("bob", 10).unwrap().is_empty());
}

#[test]
fn data_survives_dropping_and_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = open(&dir);
        store
            .submit(Write::Call(key(), answered_call("c1", 1_000)))
            .unwrap();
        store.close(key(), Some("alice".into()), 2_000).unwrap();
        let clone = store.clone();
        drop(store);
        // Writes through a clone still count; the last drop commits them, no flush needed.
        clone
            .submit(Write::Message(
                key(),
                message("m1", Direction::Outbound, 3_000),
            ))
            .unwrap();
        clone.submit(Write::Log(key(), log(LogAction::Transferred, 4_000)))
    };
    assert_eq!(before, Ok(()));
    let store = open(&dir);
    let conversation = store.conversation(LINE, CUSTOMER).unwrap().unwrap();
    assert_eq!(conversation.header.state, ConversationState::Closed);
    assert_eq!(conversation.items.len(), 4);
    assert_eq!(conversation.header.last_activity, 4_000);
}

#[test]
fn a_version_1_database_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // What a version-1 store left behind: a conversation with a named call.
        let conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate(&conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, line, customer, state, last_activity)
                 VALUES (1, '+33100000001', '+33600000002', 'open', 2000);
             INSERT INTO items (id, conversation, kind, at) VALUES (1, 1, 'call', 1000);
             INSERT INTO calls (item, call_id, direction, outcome, agents_rung, duration_ms,
                                caller_name, crm_name)
                 VALUES (1, 'c1', 'inbound', 'missed', '[\"bob\"]', 0, 'JD', NULL);
             INSERT INTO items (id, conversation, kind, at) VALUES (2, 1, 'call', 2000);
             INSERT INTO calls (item, call_id, direction, outcome, agents_rung, duration_ms,
                                caller_name, crm_name)
                 VALUES (2, 'c2', 'inbound', 'missed', '[]', 0, 'J. D.', 'Jeanne Dupont');",
        )
        .unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
    }
    let store = StoreHandle::open(&path, StoreOptions::default()).unwrap();
    let conversation = store.conversation(LINE, CUSTOMER).unwrap().unwrap();
    assert_eq!(
        conversation.header.customer_name.as_deref(),
        Some("Jeanne Dupont"),
        "backfilled from the newest named call"
    );
    assert_eq!(conversation.items.len(), 2);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(schema::version(&conn).unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let options = StoreOptions {
        queue: 1,
        max_batch: 1,
        ..StoreOptions::default()
    };
    let store = StoreHandle::open(&path, options).unwrap();
    // Another connection holds the write lock: the writer blocks on its first write, so at
    // most one write is in its hands and one in the queue.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let results: Vec<Result<(), SubmitError>> = (0..3)
        .map(|i| store.submit(Write::Log(key(), log(LogAction::Declined, i))))
        .collect();
    blocker.execute_batch("ROLLBACK").unwrap();
    store.flush().unwrap();

    let refused = results
        .iter()
        .filter(|r| **r == Err(SubmitError::Full))
        .count() as u64;
    assert!(refused >= 1, "{results:?}");
    let stats = store.stats();
    assert_eq!(stats.dropped, refused);
    assert_eq!(stats.committed, 3 - refused);
    assert_eq!(items(&store).len() as u64, 3 - refused);
}

#[test]
fn a_conversation_is_returned_as_tagged_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .submit(Write::Call(key(), answered_call("c1", 1_000)))
        .unwrap();
    store
        .submit(Write::Message(
            key(),
            message("m1", Direction::Inbound, 2_000),
        ))
        .unwrap();
    store.flush().unwrap();
    let conversation = store.conversation(LINE, CUSTOMER).unwrap().unwrap();
    let json = serde_json::to_value(&conversation).unwrap();
    assert_eq!(json["customer"], CUSTOMER);
    assert_eq!(json["items"][0]["kind"], "call");
    assert_eq!(json["items"][0]["outcome"], "answered");
    assert_eq!(
        json["items"][0]["agents_rung"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(json["items"][1]["kind"], "message");
    assert_eq!(json["items"][1]["direction"], "inbound");
}

#[test]
fn a_failing_write_is_rolled_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = StoreHandle::open(&path, StoreOptions::default()).unwrap();
    // Stand-in for a disk error on one write: the database itself refuses `declined` logs.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_declined BEFORE INSERT ON logs WHEN NEW.action = 'declined'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    for (action, at) in [
        (LogAction::Transferred, 1),
        (LogAction::Declined, 2),
        (LogAction::Transferred, 3),
    ] {
        store.submit(Write::Log(key(), log(action, at))).unwrap();
    }
    store.flush().unwrap();

    assert_eq!(
        items(&store).iter().map(Item::at).collect::<Vec<_>>(),
        [1, 3]
    );
    let stats = store.stats();
    assert_eq!((stats.committed, stats.failed), (2, 1));
}

#[test]
fn the_handle_can_be_shared_across_threads_and_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<StoreHandle>();
}
