//! The conversation store as the API needs it.
//!
//! A conversation is everything that happened between one line and one customer: calls,
//! messages, system logs (assigned, closed...). The store crate owns its shape; the API passes
//! its JSON through unchanged. Methods are synchronous (an embedded store does blocking I/O):
//! the API calls them on tokio's blocking pool, never on a runtime worker.
//!
//! `Ok(None)` means "no such line or conversation" (the API answers 404); `Err` is the store's
//! own failure (the API answers 500 and logs it).

use serde_json::Value;

pub trait Conversations: Send + Sync + 'static {
    /// One conversation with its entries, newest last.
    fn get(&self, line: &str, customer: &str) -> Result<Option<Value>, String>;

    /// The conversations of `line`; with `only_for`, only those that user may see.
    fn list(&self, line: &str, only_for: Option<&str>) -> Result<Option<Value>, String>;

    /// Whether `user` may see this conversation with a user token (assigned to them, or they
    /// took part in one of its calls). Being in a call in progress with this customer on this
    /// line is checked by the API itself.
    fn may_access(&self, line: &str, customer: &str, user: &str) -> Result<bool, String>;

    /// Assigns the conversation to `user`, logged as done by `actor`; returns the conversation.
    fn assign(
        &self,
        line: &str,
        customer: &str,
        actor: &str,
        user: &str,
    ) -> Result<Option<Value>, String>;

    fn close(&self, line: &str, customer: &str, actor: &str) -> Result<Option<Value>, String>;

    fn reopen(&self, line: &str, customer: &str, actor: &str) -> Result<Option<Value>, String>;
}

/// For a node running without a conversation store: every conversation is unknown (404).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConversations;

impl Conversations for NoConversations {
    fn get(&self, _line: &str, _customer: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }

    fn list(&self, _line: &str, _only_for: Option<&str>) -> Result<Option<Value>, String> {
        Ok(None)
    }

    fn may_access(&self, _line: &str, _customer: &str, _user: &str) -> Result<bool, String> {
        Ok(false)
    }

    fn assign(
        &self,
        _line: &str,
        _customer: &str,
        _actor: &str,
        _user: &str,
    ) -> Result<Option<Value>, String> {
        Ok(None)
    }

    fn close(&self, _line: &str, _customer: &str, _actor: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }

    fn reopen(&self, _line: &str, _customer: &str, _actor: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }
}
