//! What routing needs to know about agents that the configuration cannot say: where they are
//! registered right now, whether they are away, and when their last call ended.
//!
//! Contacts belong to the registrar, so they come through the [`Directory`] trait the daemon
//! implements over its location table. Presence (availability, last call end) has no other home
//! yet, so [`AgentPresence`] keeps it here, sans-IO: the daemon updates it as calls end and
//! agents change state, and routing only reads it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use config::UserId;

/// One registered device of an agent, named however the daemon likes (a binding id, a contact
/// URI). Routing never looks inside: it hands it back in [`crate::Output::Ring`].
/// Cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContactRef(Arc<str>);

impl ContactRef {
    pub fn new(s: impl Into<Arc<str>>) -> Self {
        ContactRef(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ContactRef {
    fn from(s: &str) -> Self {
        ContactRef(s.into())
    }
}

impl From<String> for ContactRef {
    fn from(s: String) -> Self {
        ContactRef(s.into())
    }
}

impl fmt::Display for ContactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContactRef({:?})", &*self.0)
    }
}

/// Whether an agent takes calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    #[default]
    Available,
    /// Skipped by every ring step, as if not registered.
    Away,
}

/// An agent's presence as routing reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    pub availability: Availability,
    /// When the agent's last call ended; `None` if they have had none since the daemon started.
    /// `longest_idle` rings `None` first, then the oldest.
    pub last_call_ended: Option<Instant>,
}

/// What routing asks the daemon about agents, each time a step is about to ring them (so a
/// device that registered a second ago is rung, and one that left is not).
pub trait Directory {
    /// The agent's currently registered contacts, each rung in parallel as its own branch.
    /// Empty means "not reachable": the agent is skipped.
    fn contacts_of(&self, user: &UserId) -> Vec<ContactRef>;
    /// Availability and idle time; the default is available, never called.
    fn presence(&self, user: &UserId) -> Presence;
}

/// Availability and last call end per agent. Unknown agents are available and never called.
#[derive(Clone, Debug, Default)]
pub struct AgentPresence {
    agents: HashMap<UserId, Presence>,
}

impl AgentPresence {
    pub fn new() -> Self {
        AgentPresence::default()
    }

    pub fn set_availability(&mut self, user: &UserId, availability: Availability) {
        self.entry(user).availability = availability;
    }

    /// Records that a call of `user` ended at `at`. An earlier instant than the one recorded is
    /// ignored, so reports arriving out of order keep the latest end.
    pub fn call_ended(&mut self, user: &UserId, at: Instant) {
        let e = self.entry(user);
        if e.last_call_ended.is_none_or(|t| t < at) {
            e.last_call_ended = Some(at);
        }
    }

    pub fn presence(&self, user: &UserId) -> Presence {
        self.agents.get(user).copied().unwrap_or_default()
    }

    /// Drops agents no longer in the configuration (after a reload).
    pub fn retain(&mut self, mut keep: impl FnMut(&UserId) -> bool) {
        self.agents.retain(|u, _| keep(u));
    }

    /// A [`Directory`] reading presence here and contacts from `contacts` (typically a lookup in
    /// the registrar's location table).
    pub fn with_contacts<F>(&self, contacts: F) -> WithContacts<'_, F>
    where
        F: Fn(&UserId) -> Vec<ContactRef>,
    {
        WithContacts {
            presence: self,
            contacts,
        }
    }

    fn entry(&mut self, user: &UserId) -> &mut Presence {
        self.agents.entry(user.clone()).or_default()
    }
}

/// See [`AgentPresence::with_contacts`].
pub struct WithContacts<'a, F> {
    presence: &'a AgentPresence,
    contacts: F,
}

impl<F> Directory for WithContacts<'_, F>
where
    F: Fn(&UserId) -> Vec<ContactRef>,
{
    fn contacts_of(&self, user: &UserId) -> Vec<ContactRef> {
        (self.contacts)(user)
    }

    fn presence(&self, user: &UserId) -> Presence {
        self.presence.presence(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn id(s: &str) -> UserId {
        s.parse().expect("valid id")
    }

    #[test]
    fn unknown_agents_are_available_and_never_called() {
        let p = AgentPresence::new();
        assert_eq!(p.presence(&id("alice")), Presence::default());
        assert_eq!(
            p.presence(&id("alice")).availability,
            Availability::Available
        );
    }

    #[test]
    fn call_end_keeps_the_latest_and_availability_is_independent() {
        let t0 = Instant::now();
        let mut p = AgentPresence::new();
        p.call_ended(&id("alice"), t0 + Duration::from_secs(10));
        p.call_ended(&id("alice"), t0 + Duration::from_secs(5));
        p.set_availability(&id("alice"), Availability::Away);
        let got = p.presence(&id("alice"));
        assert_eq!(got.last_call_ended, Some(t0 + Duration::from_secs(10)));
        assert_eq!(got.availability, Availability::Away);
        p.retain(|u| u.as_str() != "alice");
        assert_eq!(p.presence(&id("alice")), Presence::default());
    }

    #[test]
    fn with_contacts_combines_both_sources() {
        let mut p = AgentPresence::new();
        p.set_availability(&id("bob"), Availability::Away);
        let dir = p.with_contacts(|u: &UserId| vec![ContactRef::from(format!("{u}@pc"))]);
        assert_eq!(
            dir.contacts_of(&id("bob")),
            vec![ContactRef::from("bob@pc")]
        );
        assert_eq!(dir.presence(&id("bob")).availability, Availability::Away);
    }
}
