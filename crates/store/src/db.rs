//! The SQL behind each write and read, on a plain connection: no threads here.
//!
//! Writes run inside the writer's transaction; reads on any connection (the readers' are
//! read-only). Every statement is prepared once per connection (`prepare_cached`).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::{
    CallOutcome, CallRecord, Conversation, ConversationHeader, ConversationKey, ConversationState,
    Direction, Item, LogAction, Message, SystemLog, UnixMs, UserCall, Write,
};
use crate::StoreError;

/// A conversation row as the write path needs it.
struct ConversationRow {
    id: i64,
    state: ConversationState,
    assignee: Option<String>,
}

/// Applies one write. Called inside a savepoint of the batch transaction.
pub(crate) fn apply(tx: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Call(key, call) => write_call(tx, key, call),
        Write::Message(key, message) => write_message(tx, key, message),
        Write::Log(key, log) => {
            let conversation = find_or_create(tx, key, log.at)?;
            insert_log(tx, conversation.id, log)
        }
        Write::Assign {
            key,
            user,
            actor,
            at,
        } => {
            let conversation = match find(tx, key)? {
                Some(found) => found,
                None if user.is_none() => return Ok(()),
                None => create(tx, key, *at)?,
            };
            if conversation.assignee == *user {
                return Ok(());
            }
            tx.prepare_cached("UPDATE conversations SET assignee = ?1 WHERE id = ?2")?
                .execute(params![user, conversation.id])?;
            let (action, detail) = match user {
                Some(user) => (LogAction::Assigned, Some(user.clone())),
                None => (LogAction::Unassigned, conversation.assignee),
            };
            let log = SystemLog {
                action,
                actor: actor.clone(),
                detail,
                at: *at,
            };
            insert_log(tx, conversation.id, &log)
        }
        Write::Close { key, actor, at } => {
            let conversation = find_or_create(tx, key, *at)?;
            if conversation.state == ConversationState::Closed {
                return Ok(());
            }
            set_state(
                tx,
                conversation.id,
                ConversationState::Closed,
                actor,
                None,
                *at,
            )
        }
        Write::Reopen { key, actor, at } => {
            // A conversation that does not exist is not closed: nothing to reopen.
            let Some(conversation) = find(tx, key)? else {
                return Ok(());
            };
            if conversation.state == ConversationState::Open {
                return Ok(());
            }
            set_state(
                tx,
                conversation.id,
                ConversationState::Open,
                actor,
                None,
                *at,
            )
        }
    }
}

fn write_call(tx: &Connection, key: &ConversationKey, call: &CallRecord) -> Result<(), StoreError> {
    let agents_rung = serde_json::to_string(&call.agents_rung)
        .map_err(|e| StoreError::Corrupt(format!("agents_rung: {e}")))?;
    let duration_ms = i64::try_from(call.duration_ms).unwrap_or(i64::MAX);
    let name = call.crm_name.as_ref().or(call.caller_name.as_ref());

    let existing: Option<(i64, i64)> = tx
        .prepare_cached(
            "SELECT calls.item, items.conversation FROM calls JOIN items ON items.id = calls.item
             WHERE calls.call_id = ?1",
        )?
        .query_row([&call.call_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;

    let (item, conversation) = match existing {
        Some((item, conversation)) => {
            // The same call written again (a retry, or a fuller record): replace in place.
            tx.prepare_cached("UPDATE items SET at = ?1 WHERE id = ?2")?
                .execute(params![call.started_at, item])?;
            tx.prepare_cached("DELETE FROM calls WHERE item = ?1")?
                .execute([item])?;
            (item, conversation)
        }
        None => {
            let conversation = find_or_create(tx, key, call.started_at)?;
            let item = insert_item(tx, conversation.id, "call", call.started_at)?;
            if call.direction == Direction::Inbound
                && conversation.state == ConversationState::Closed
            {
                let detail = Some("inbound call".to_owned());
                let (id, at) = (conversation.id, call.started_at);
                set_state(tx, id, ConversationState::Open, &None, detail, at)?;
            }
            (item, conversation.id)
        }
    };
    tx.prepare_cached(
        "INSERT INTO calls (item, call_id, direction, answered_at, ended_at, outcome, answered_by,
                            agents_rung, ivr_branch, ivr_path, caller_name, duration_ms,
                            voicemail, crm_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        item,
        call.call_id,
        call.direction.as_str(),
        call.answered_at,
        call.ended_at,
        call.outcome.as_str(),
        call.answered_by,
        agents_rung,
        call.ivr_branch,
        call.ivr_path,
        call.caller_name,
        duration_ms,
        call.voicemail,
        call.crm_name,
    ])?;
    if let Some(name) = name {
        // Only a call at least as recent as the conversation's activity renames it, so a
        // late write of an old call does not bring back an old name.
        tx.prepare_cached(
            "UPDATE conversations SET customer_name = ?1 WHERE id = ?2 AND last_activity <= ?3",
        )?
        .execute(params![name, conversation, call.started_at])?;
    }
    touch(tx, conversation, call.started_at)
}

fn write_message(
    tx: &Connection,
    key: &ConversationKey,
    message: &Message,
) -> Result<(), StoreError> {
    let seen = tx
        .prepare_cached("SELECT 1 FROM messages WHERE sip_call_id = ?1")?
        .exists([&message.sip_call_id])?;
    if seen {
        tracing::debug!("MESSAGE retransmission not stored again");
        return Ok(());
    }
    let conversation = find_or_create(tx, key, message.at)?;
    let item = insert_item(tx, conversation.id, "message", message.at)?;
    tx.prepare_cached(
        "INSERT INTO messages (item, sip_call_id, direction, body, author)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        item,
        message.sip_call_id,
        message.direction.as_str(),
        message.body,
        message.author,
    ])?;
    if message.direction == Direction::Inbound && conversation.state == ConversationState::Closed {
        let detail = Some("inbound message".to_owned());
        set_state(
            tx,
            conversation.id,
            ConversationState::Open,
            &None,
            detail,
            message.at,
        )?;
    }
    Ok(())
}

/// Changes the state and logs the change.
fn set_state(
    tx: &Connection,
    conversation: i64,
    state: ConversationState,
    actor: &Option<String>,
    detail: Option<String>,
    at: UnixMs,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE conversations SET state = ?1 WHERE id = ?2")?
        .execute(params![state.as_str(), conversation])?;
    let action = match state {
        ConversationState::Open => LogAction::Reopened,
        ConversationState::Closed => LogAction::Closed,
    };
    let log = SystemLog {
        action,
        actor: actor.clone(),
        detail,
        at,
    };
    insert_log(tx, conversation, &log)
}

fn insert_log(tx: &Connection, conversation: i64, log: &SystemLog) -> Result<(), StoreError> {
    let item = insert_item(tx, conversation, "log", log.at)?;
    tx.prepare_cached("INSERT INTO logs (item, action, actor, detail) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![item, log.action.as_str(), log.actor, log.detail])?;
    Ok(())
}

fn insert_item(
    tx: &Connection,
    conversation: i64,
    kind: &str,
    at: UnixMs,
) -> Result<i64, StoreError> {
    tx.prepare_cached("INSERT INTO items (conversation, kind, at) VALUES (?1, ?2, ?3)")?
        .execute(params![conversation, kind, at])?;
    let item = tx.last_insert_rowid();
    touch(tx, conversation, at)?;
    Ok(item)
}

/// Moves the conversation's last activity forward to `at` (never backward).
fn touch(tx: &Connection, conversation: i64, at: UnixMs) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE conversations SET last_activity = max(last_activity, ?1) WHERE id = ?2",
    )?
    .execute(params![at, conversation])?;
    Ok(())
}

fn find(tx: &Connection, key: &ConversationKey) -> Result<Option<ConversationRow>, StoreError> {
    let row = tx
        .prepare_cached(
            "SELECT id, state, assignee FROM conversations WHERE line = ?1 AND customer = ?2",
        )?
        .query_row(params![key.line, key.customer], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get(2)?))
        })
        .optional()?;
    row.map(|(id, state, assignee)| {
        Ok(ConversationRow {
            id,
            state: parse_text(&state, ConversationState::from_text, "state")?,
            assignee,
        })
    })
    .transpose()
}

fn create(
    tx: &Connection,
    key: &ConversationKey,
    at: UnixMs,
) -> Result<ConversationRow, StoreError> {
    tx.prepare_cached(
        "INSERT INTO conversations (line, customer, state, last_activity) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        key.line,
        key.customer,
        ConversationState::Open.as_str(),
        at
    ])?;
    Ok(ConversationRow {
        id: tx.last_insert_rowid(),
        state: ConversationState::Open,
        assignee: None,
    })
}

fn find_or_create(
    tx: &Connection,
    key: &ConversationKey,
    at: UnixMs,
) -> Result<ConversationRow, StoreError> {
    match find(tx, key)? {
        Some(found) => Ok(found),
        None => create(tx, key, at),
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

const HEADER_COLUMNS: &str = "id, line, customer, customer_name, state, assignee, last_activity";

fn header_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, ConversationHeader)> {
    let state: String = row.get(4)?;
    let state = ConversationState::from_text(&state).ok_or_else(|| bad_text(4, "state", &state))?;
    Ok((
        row.get(0)?,
        ConversationHeader {
            line: row.get(1)?,
            customer: row.get(2)?,
            customer_name: row.get(3)?,
            state,
            assignee: row.get(5)?,
            last_activity: row.get(6)?,
        },
    ))
}

pub(crate) fn conversation(
    conn: &Connection,
    line: &str,
    customer: &str,
) -> Result<Option<Conversation>, StoreError> {
    // One read transaction so the header and the items come from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    let found = tx
        .prepare_cached(&format!(
            "SELECT {HEADER_COLUMNS} FROM conversations WHERE line = ?1 AND customer = ?2"
        ))?
        .query_row(params![line, customer], header_from_row)
        .optional()?;
    let Some((id, header)) = found else {
        return Ok(None);
    };
    let mut statement = tx.prepare_cached(
        "SELECT items.kind, items.at,
                calls.call_id, calls.direction, calls.answered_at, calls.ended_at, calls.outcome,
                calls.answered_by, calls.agents_rung, calls.ivr_branch, calls.ivr_path,
                calls.caller_name, calls.duration_ms, calls.voicemail, calls.crm_name,
                messages.sip_call_id, messages.direction, messages.body, messages.author,
                logs.action, logs.actor, logs.detail
         FROM items
         LEFT JOIN calls ON calls.item = items.id
         LEFT JOIN messages ON messages.item = items.id
         LEFT JOIN logs ON logs.item = items.id
         WHERE items.conversation = ?1
         ORDER BY items.at, items.id",
    )?;
    let items = statement
        .query_map([id], item_from_row)?
        .collect::<rusqlite::Result<Vec<Item>>>()?;
    Ok(Some(Conversation { header, items }))
}

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<Item> {
    let kind: String = row.get(0)?;
    let at: UnixMs = row.get(1)?;
    match kind.as_str() {
        "call" => call_from_row(row, 2, at).map(Item::Call),
        "message" => {
            let direction: String = row.get(16)?;
            Ok(Item::Message(Message {
                sip_call_id: row.get(15)?,
                direction: Direction::from_text(&direction)
                    .ok_or_else(|| bad_text(16, "direction", &direction))?,
                body: row.get(17)?,
                author: row.get(18)?,
                at,
            }))
        }
        "log" => {
            let action: String = row.get(19)?;
            Ok(Item::Log(SystemLog {
                action: LogAction::from_text(&action)
                    .ok_or_else(|| bad_text(19, "action", &action))?,
                actor: row.get(20)?,
                detail: row.get(21)?,
                at,
            }))
        }
        other => Err(bad_text(0, "kind", other)),
    }
}

/// Reads the 13 call columns starting at `first` (call_id .. crm_name, as in the item query).
fn call_from_row(row: &Row<'_>, first: usize, started_at: UnixMs) -> rusqlite::Result<CallRecord> {
    let direction: String = row.get(first + 1)?;
    let outcome: String = row.get(first + 4)?;
    let agents_rung: String = row.get(first + 6)?;
    let agents_rung = serde_json::from_str(&agents_rung)
        .map_err(|_| bad_text(first + 6, "agents_rung", &agents_rung))?;
    let duration_ms: i64 = row.get(first + 10)?;
    Ok(CallRecord {
        call_id: row.get(first)?,
        direction: Direction::from_text(&direction)
            .ok_or_else(|| bad_text(first + 1, "direction", &direction))?,
        started_at,
        answered_at: row.get(first + 2)?,
        ended_at: row.get(first + 3)?,
        outcome: CallOutcome::from_text(&outcome)
            .ok_or_else(|| bad_text(first + 4, "outcome", &outcome))?,
        answered_by: row.get(first + 5)?,
        agents_rung,
        ivr_branch: row.get(first + 7)?,
        ivr_path: row.get(first + 8)?,
        caller_name: row.get(first + 9)?,
        duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        voicemail: row.get(first + 11)?,
        crm_name: row.get(first + 12)?,
    })
}

/// The line's conversations, most recent activity first.
pub(crate) fn conversations(
    conn: &Connection,
    line: &str,
    limit: usize,
) -> Result<Vec<ConversationHeader>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let headers = conn
        .prepare_cached(&format!(
            "SELECT {HEADER_COLUMNS} FROM conversations WHERE line = ?1
             ORDER BY last_activity DESC, id DESC LIMIT ?2"
        ))?
        .query_map(params![line, limit], |row| {
            header_from_row(row).map(|(_, h)| h)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(headers)
}

/// Calls answered by `user`, newest first.
pub(crate) fn calls_of_user(
    conn: &Connection,
    user: &str,
    limit: usize,
) -> Result<Vec<UserCall>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let calls = conn
        .prepare_cached(
            "SELECT conversations.line, conversations.customer, items.at,
                    calls.call_id, calls.direction, calls.answered_at, calls.ended_at,
                    calls.outcome, calls.answered_by, calls.agents_rung, calls.ivr_branch,
                    calls.ivr_path, calls.caller_name, calls.duration_ms, calls.voicemail,
                    calls.crm_name
             FROM calls
             JOIN items ON items.id = calls.item
             JOIN conversations ON conversations.id = items.conversation
             WHERE calls.answered_by = ?1
             ORDER BY items.at DESC, items.id DESC LIMIT ?2",
        )?
        .query_map(params![user, limit], |row| {
            Ok(UserCall {
                line: row.get(0)?,
                customer: row.get(1)?,
                call: call_from_row(row, 3, row.get(2)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(calls)
}

fn parse_text<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {text:?}")))
}

/// A text column holding a value this version does not know (a newer writer, or damage).
fn bad_text(column: usize, what: &str, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unknown {what} {text:?}").into(),
    )
}
