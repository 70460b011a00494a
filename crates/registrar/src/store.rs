//! The location table: AOR user → bindings.
//!
//! [`LocationStore`] is deliberately narrow: read one AOR, read-modify-write one AOR, sweep
//! expired bindings, report the next expiry. A REGISTER changes one AOR atomically (RFC 3261
//! §10.3: all of a request's binding updates are committed, or none), which maps onto a
//! Redis `WATCH`/`MULTI` on one key or a PostgreSQL transaction on one row set just as well as
//! onto [`MemoryStore`]'s in-place edit. The methods are synchronous and take closures, so a
//! shared store fetches, calls the closure, and writes back; no `async`, no borrowed results
//! escaping. A store shared between nodes has to translate [`Instant`] to wall-clock time at
//! its boundary: `Instant` is only meaningful inside one process.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One registered contact of an AOR.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The contact URI as registered (without angle brackets).
    pub uri: Arc<str>,
    /// The whole Contact header value as received.
    pub contact_raw: String,
    /// Where the REGISTER came from: the flow to reach a phone behind NAT.
    pub received: SocketAddr,
    /// Transport the REGISTER arrived on (`udp`, `tcp`, `tls`, `ws`, …).
    pub transport: String,
    /// Call-ID of the REGISTER that last set this binding.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// When the binding was first created.
    pub registered_at: Instant,
    /// When the binding was last refreshed.
    pub refreshed_at: Instant,
    /// `q` parameter, if any.
    pub q: Option<f32>,
    /// `+sip.instance` value without the surrounding quotes, e.g. `<urn:uuid:…>`.
    pub instance: Option<String>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    /// `User-Agent` of the registering device.
    pub user_agent: Option<String>,
}

impl Binding {
    /// Whether the binding has lapsed at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at <= now
    }

    /// Time left before the binding lapses (zero once expired).
    pub fn expires_in(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// `q` for ordering: an absent `q` ranks as 1.0.
    pub fn priority(&self) -> f32 {
        self.q.unwrap_or(1.0)
    }
}

/// Storage of bindings per AOR user. See the module documentation for the contract.
pub trait LocationStore {
    /// Calls `f` with the stored bindings of `aor` (empty if none). They may include expired
    /// bindings that have not been swept yet: callers filter on `now`.
    fn lookup<R>(&self, aor: &str, f: impl FnOnce(&[Binding]) -> R) -> R;

    /// Atomically read-modify-writes the bindings of `aor`: `f` gets them (possibly empty),
    /// edits them in place (insert, refresh, remove), and whatever it leaves is stored. An
    /// AOR left with no bindings is removed.
    fn update<R>(&mut self, aor: &str, f: impl FnOnce(&mut Vec<Binding>) -> R) -> R;

    /// Removes and returns every binding with `expires_at <= now`.
    fn expire(&mut self, now: Instant) -> Vec<(String, Binding)>;

    /// The earliest `expires_at` of any stored binding.
    fn next_expiry(&self) -> Option<Instant>;

    /// Number of stored bindings (expired ones not yet swept included).
    fn binding_count(&self) -> usize;
}

/// In-process [`LocationStore`].
///
/// AORs live in slots (a slab) indexed by name; an ordered set of `(earliest expiry, slot)`
/// gives `next_expiry` in O(log n) and lets `expire` touch only AORs that have something due.
#[derive(Debug, Default)]
pub struct MemoryStore {
    index: HashMap<String, usize>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_expiry: BTreeSet<(Instant, usize)>,
    count: usize,
}

#[derive(Debug, Default)]
struct Slot {
    aor: String,
    bindings: Vec<Binding>,
    next: Option<Instant>,
}

impl MemoryStore {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of AORs with at least one binding.
    pub fn aor_count(&self) -> usize {
        self.index.len()
    }

    /// Re-indexes slot `i` after its bindings changed from `old_len` entries.
    fn settle(&mut self, i: usize, old_len: usize) {
        let slot = &mut self.slots[i];
        let new_len = slot.bindings.len();
        self.count = self.count - old_len + new_len;
        let next = slot.bindings.iter().map(|b| b.expires_at).min();
        if next != slot.next {
            if let Some(old) = slot.next {
                self.by_expiry.remove(&(old, i));
            }
            if let Some(new) = next {
                self.by_expiry.insert((new, i));
            }
            slot.next = next;
        }
        if new_len == 0 {
            let aor = std::mem::take(&mut slot.aor);
            slot.bindings = Vec::new();
            self.index.remove(&aor);
            self.free.push(i);
        }
    }
}

impl LocationStore for MemoryStore {
    fn lookup<R>(&self, aor: &str, f: impl FnOnce(&[Binding]) -> R) -> R {
        match self.index.get(aor) {
            Some(&i) => f(&self.slots[i].bindings),
            None => f(&[]),
        }
    }

    fn update<R>(&mut self, aor: &str, f: impl FnOnce(&mut Vec<Binding>) -> R) -> R {
        if let Some(&i) = self.index.get(aor) {
            let old_len = self.slots[i].bindings.len();
            let r = f(&mut self.slots[i].bindings);
            self.settle(i, old_len);
            return r;
        }
        // Unknown AOR: let `f` work on an empty list and only take a slot if it added some.
        let mut bindings = Vec::new();
        let r = f(&mut bindings);
        if bindings.is_empty() {
            return r;
        }
        let slot = Slot {
            aor: aor.to_owned(),
            bindings,
            next: None,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.index.insert(aor.to_owned(), i);
        self.settle(i, 0);
        r
    }

    fn expire(&mut self, now: Instant) -> Vec<(String, Binding)> {
        let mut out = Vec::new();
        while let Some(&(at, i)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            let slot = &mut self.slots[i];
            let old_len = slot.bindings.len();
            let mut k = 0;
            while k < slot.bindings.len() {
                if slot.bindings[k].is_expired(now) {
                    out.push((slot.aor.clone(), slot.bindings.swap_remove(k)));
                } else {
                    k += 1;
                }
            }
            // `settle` moves this slot's entry past `now` (or drops it), so the loop ends.
            self.settle(i, old_len);
        }
        out
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|&(at, _)| at)
    }

    fn binding_count(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn binding(uri: &str, now: Instant, secs: u64) -> Binding {
        Binding {
            uri: uri.into(),
            contact_raw: format!("<{uri}>"),
            received: "192.0.2.1:5060".parse().expect("addr"),
            transport: "udp".into(),
            call_id: "c".into(),
            cseq: 1,
            expires_at: now + Duration::from_secs(secs),
            registered_at: now,
            refreshed_at: now,
            q: None,
            instance: None,
            reg_id: None,
            user_agent: None,
        }
    }

    #[test]
    fn update_inserts_edits_and_removes_aors() {
        let now = Instant::now();
        let mut s = MemoryStore::new();
        s.update("alice", |v| v.push(binding("sip:a@h", now, 60)));
        s.update("alice", |v| v.push(binding("sip:b@h", now, 30)));
        s.update("bob", |v| v.push(binding("sip:c@h", now, 90)));
        assert_eq!(s.binding_count(), 3);
        assert_eq!(s.aor_count(), 2);
        assert_eq!(s.next_expiry(), Some(now + Duration::from_secs(30)));
        assert_eq!(s.lookup("alice", |b| b.len()), 2);
        assert_eq!(s.lookup("nobody", |b| b.len()), 0);
        s.update("alice", |v| v.clear());
        assert_eq!(s.aor_count(), 1);
        assert_eq!(s.binding_count(), 1);
        assert_eq!(s.next_expiry(), Some(now + Duration::from_secs(90)));
        // The freed slot is reused.
        s.update("carol", |v| v.push(binding("sip:d@h", now, 10)));
        assert_eq!(s.slots.len(), 2);
        assert_eq!(s.lookup("carol", |b| b[0].uri.to_string()), "sip:d@h");
        // A no-op update of an unknown AOR takes no slot.
        s.update("dave", |_| ());
        assert_eq!(s.aor_count(), 2);
    }

    #[test]
    fn expire_sweeps_only_due_bindings() {
        let now = Instant::now();
        let mut s = MemoryStore::new();
        s.update("alice", |v| {
            v.push(binding("sip:a@h", now, 10));
            v.push(binding("sip:b@h", now, 20));
        });
        s.update("bob", |v| v.push(binding("sip:c@h", now, 10)));
        assert!(s.expire(now + Duration::from_secs(9)).is_empty());
        let mut gone = s.expire(now + Duration::from_secs(10));
        gone.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<(&str, &str)> = gone.iter().map(|(a, b)| (a.as_str(), &*b.uri)).collect();
        assert_eq!(names, vec![("alice", "sip:a@h"), ("bob", "sip:c@h")]);
        assert_eq!(s.binding_count(), 1);
        assert_eq!(s.aor_count(), 1);
        assert_eq!(s.next_expiry(), Some(now + Duration::from_secs(20)));
        assert_eq!(s.expire(now + Duration::from_secs(3600)).len(), 1);
        assert_eq!(s.next_expiry(), None);
        assert_eq!(s.binding_count(), 0);
    }
}
