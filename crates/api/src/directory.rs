//! The calls in progress, as last published by the engine.
//!
//! The engine writes a fresh [`CallView`] here whenever a call changes (before publishing the
//! matching event, so a client that hears of a call can always read it) and removes it when
//! the call has ended. HTTP handlers only read. A `DashMap` fits: entries are independent
//! snapshots, readers and the writer touch different shards, and nobody holds a guard across
//! an `.await` (every method clones out).

use std::sync::Arc;

use dashmap::DashMap;

use crate::model::CallView;

#[derive(Clone, Debug, Default)]
pub struct CallDirectory {
    calls: Arc<DashMap<String, CallView>>,
}

impl CallDirectory {
    pub fn new() -> Self {
        CallDirectory::default()
    }

    /// Inserts or replaces the call with this view's id.
    pub fn upsert(&self, call: CallView) {
        self.calls.insert(call.id.clone(), call);
    }

    /// Changes one call in place; returns false when there is no such call.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut CallView)) -> bool {
        match self.calls.get_mut(id) {
            Some(mut call) => {
                change(&mut call);
                true
            }
            None => false,
        }
    }

    pub fn remove(&self, id: &str) -> Option<CallView> {
        self.calls.remove(id).map(|(_, call)| call)
    }

    pub fn get(&self, id: &str) -> Option<CallView> {
        self.calls.get(id).map(|call| call.clone())
    }

    /// Every call, oldest first (ties broken by id, so the order is stable).
    pub fn list(&self) -> Vec<CallView> {
        self.list_where(|_| true)
    }

    /// The calls that pass `keep`, oldest first.
    pub fn list_where(&self, mut keep: impl FnMut(&CallView) -> bool) -> Vec<CallView> {
        let mut calls: Vec<CallView> = self
            .calls
            .iter()
            .filter(|entry| keep(entry.value()))
            .map(|entry| entry.value().clone())
            .collect();
        calls.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        calls
    }

    /// Whether some call in progress satisfies `test` (stops at the first).
    pub fn any(&self, mut test: impl FnMut(&CallView) -> bool) -> bool {
        self.calls.iter().any(|entry| test(entry.value()))
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallState, CallerView, LineView};

    fn call(id: &str, created_at: u64) -> CallView {
        CallView::new(
            id,
            LineView {
                number: "+33100000001".into(),
                name: "Support".into(),
            },
            CallerView {
                number: "+33611111111".into(),
                name: None,
            },
            created_at,
        )
    }

    #[test]
    fn upsert_replaces_and_list_is_oldest_first() {
        let dir = CallDirectory::new();
        dir.upsert(call("b", 20));
        dir.upsert(call("a", 10));
        dir.upsert(call("c", 10));
        let mut b = call("b", 20);
        b.state = CallState::Ringing;
        dir.upsert(b);
        let ids: Vec<String> = dir.list().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        assert_eq!(dir.get("b").map(|c| c.state), Some(CallState::Ringing));
        assert_eq!(dir.len(), 3);
    }

    #[test]
    fn update_and_remove() {
        let dir = CallDirectory::new();
        dir.upsert(call("a", 1));
        assert!(dir.update("a", |c| c.state = CallState::Answered));
        assert!(!dir.update("zz", |c| c.state = CallState::Answered));
        assert_eq!(dir.remove("a").map(|c| c.state), Some(CallState::Answered));
        assert!(dir.get("a").is_none());
        assert!(dir.is_empty());
    }
}
