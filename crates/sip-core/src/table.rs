//! Many transactions behind one clock: the table a daemon's SIP task owns.
//!
//! Transactions live in a slab (`Vec` of slots plus a free list) and are named by [`TxId`], an
//! index with a generation so an id kept after its transaction ended can never reach a newer one.
//! Keys map to ids through a `HashMap` (SipHash: keys come from the network). Wake-ups sit in a
//! binary heap of `(deadline, TxId)`; when a transaction's next deadline changes we push the new
//! one and leave the old entry behind, recognising it as stale when it surfaces (lazy deletion).
//! Every operation is O(log n); the heap is rebuilt when stale entries outnumber live ones, so
//! its size stays O(n).
//!
//! Same contract as a single machine: after any call, drain [`TransactionTable::poll`] (outputs
//! tagged with their transaction), then sleep until [`TransactionTable::poll_timeout`] and call
//! [`TransactionTable::handle_timeout`]. A terminated transaction is removed at once: its last
//! output is `Output::Terminated`, and its id and key are free from then on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::{
    ClientInvite, ClientNonInvite, Error, Output, ServerInvite, ServerNonInvite, TimerConfig,
    TransactionKey, TxKind, TxMessage, TxState,
};

/// Handle of a transaction in a [`TransactionTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    index: u32,
    generation: u32,
}

/// Stale heap entries tolerated beyond the live count before a rebuild.
const STALE_SLACK: usize = 1024;

// The variants are named after the four machine types they hold.
#[allow(clippy::enum_variant_names)]
enum Machine<M> {
    ClientInvite(ClientInvite<M>),
    ClientNonInvite(ClientNonInvite<M>),
    ServerInvite(ServerInvite<M>),
    ServerNonInvite(ServerNonInvite<M>),
}

impl<M: TxMessage> Machine<M> {
    fn kind(&self) -> TxKind {
        match self {
            Machine::ClientInvite(_) => TxKind::ClientInvite,
            Machine::ClientNonInvite(_) => TxKind::ClientNonInvite,
            Machine::ServerInvite(_) => TxKind::ServerInvite,
            Machine::ServerNonInvite(_) => TxKind::ServerNonInvite,
        }
    }

    fn state(&self) -> TxState {
        match self {
            Machine::ClientInvite(tx) => TxState::ClientInvite(tx.state()),
            Machine::ClientNonInvite(tx) => TxState::ClientNonInvite(tx.state()),
            Machine::ServerInvite(tx) => TxState::ServerInvite(tx.state()),
            Machine::ServerNonInvite(tx) => TxState::ServerNonInvite(tx.state()),
        }
    }

    fn poll(&mut self) -> Option<Output<M>> {
        match self {
            Machine::ClientInvite(tx) => tx.poll(),
            Machine::ClientNonInvite(tx) => tx.poll(),
            Machine::ServerInvite(tx) => tx.poll(),
            Machine::ServerNonInvite(tx) => tx.poll(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::ClientInvite(tx) => tx.poll_timeout(),
            Machine::ClientNonInvite(tx) => tx.poll_timeout(),
            Machine::ServerInvite(tx) => tx.poll_timeout(),
            Machine::ServerNonInvite(tx) => tx.poll_timeout(),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        match self {
            Machine::ClientInvite(tx) => tx.on_timeout(now),
            Machine::ClientNonInvite(tx) => tx.on_timeout(now),
            Machine::ServerInvite(tx) => tx.on_timeout(now),
            Machine::ServerNonInvite(tx) => tx.on_timeout(now),
        }
    }

    fn on_transport_error(&mut self, now: Instant) {
        match self {
            Machine::ClientInvite(tx) => tx.on_transport_error(now),
            Machine::ClientNonInvite(tx) => tx.on_transport_error(now),
            Machine::ServerInvite(tx) => tx.on_transport_error(now),
            Machine::ServerNonInvite(tx) => tx.on_transport_error(now),
        }
    }

    fn wrong_kind(&self, op: &'static str) -> Error {
        Error::WrongKind {
            kind: self.kind(),
            op,
        }
    }
}

struct Entry<M> {
    key: TransactionKey,
    machine: Machine<M>,
    /// The deadline this transaction has a live entry for in the heap.
    scheduled: Option<Instant>,
    /// Whether it counts in `TransactionTable::active`.
    active: bool,
}

struct Slot<M> {
    generation: u32,
    entry: Option<Entry<M>>,
}

/// All transactions of one endpoint, their keys, and one timer heap.
pub struct TransactionTable<M> {
    config: TimerConfig,
    slots: Vec<Slot<M>>,
    free: Vec<u32>,
    by_key: HashMap<TransactionKey, TxId>,
    wakeups: BinaryHeap<Reverse<(Instant, TxId)>>,
    out: VecDeque<(TxId, Output<M>)>,
    /// How many entries have `active` set.
    active: usize,
}

impl<M: TxMessage> TransactionTable<M> {
    /// An empty table whose transactions use `config`.
    pub fn new(config: TimerConfig) -> Self {
        TransactionTable {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            wakeups: BinaryHeap::new(),
            out: VecDeque::new(),
            active: 0,
        }
    }

    /// The timer values new transactions get.
    pub fn config(&self) -> TimerConfig {
        self.config
    }

    /// Start an INVITE client transaction: its first output is `Send(request)`.
    pub fn insert_client_invite(
        &mut self,
        key: TransactionKey,
        request: M,
        reliable: bool,
        now: Instant,
    ) -> Result<TxId, Error> {
        self.check_free(&key)?;
        let tx = ClientInvite::new(request, reliable, self.config, now);
        self.insert(key, Machine::ClientInvite(tx))
    }

    /// Start a non-INVITE client transaction: its first output is `Send(request)`.
    pub fn insert_client_non_invite(
        &mut self,
        key: TransactionKey,
        request: M,
        reliable: bool,
        now: Instant,
    ) -> Result<TxId, Error> {
        self.check_free(&key)?;
        let tx = ClientNonInvite::new(request, reliable, self.config, now);
        self.insert(key, Machine::ClientNonInvite(tx))
    }

    /// Create the server transaction for a new INVITE `request` (the caller also hands it to
    /// the TU).
    pub fn insert_server_invite(
        &mut self,
        key: TransactionKey,
        request: M,
        reliable: bool,
        now: Instant,
    ) -> Result<TxId, Error> {
        self.check_free(&key)?;
        let tx = ServerInvite::new(request, reliable, self.config, now);
        self.insert(key, Machine::ServerInvite(tx))
    }

    /// Create the server transaction for a new non-INVITE `request` (CANCEL included).
    pub fn insert_server_non_invite(
        &mut self,
        key: TransactionKey,
        request: M,
        reliable: bool,
        now: Instant,
    ) -> Result<TxId, Error> {
        self.check_free(&key)?;
        let tx = ServerNonInvite::new(request, reliable, self.config, now);
        self.insert(key, Machine::ServerNonInvite(tx))
    }

    /// The live transaction with this key.
    pub fn lookup(&self, key: &TransactionKey) -> Option<TxId> {
        self.by_key.get(key).copied()
    }

    /// A response arrived for client transaction `id`.
    pub fn on_response(
        &mut self,
        id: TxId,
        status: u16,
        msg: M,
        now: Instant,
    ) -> Result<(), Error> {
        match self.machine_mut(id)? {
            Machine::ClientInvite(tx) => tx.on_response(status, msg, now),
            Machine::ClientNonInvite(tx) => tx.on_response(status, msg, now),
            other => return Err(other.wrong_kind("on_response")),
        }
        self.settle(id);
        Ok(())
    }

    /// A retransmission of the request of server transaction `id` arrived.
    pub fn on_request(&mut self, id: TxId, msg: M, now: Instant) -> Result<(), Error> {
        match self.machine_mut(id)? {
            Machine::ServerInvite(tx) => tx.on_request(msg, now),
            Machine::ServerNonInvite(tx) => tx.on_request(msg, now),
            other => return Err(other.wrong_kind("on_request")),
        }
        self.settle(id);
        Ok(())
    }

    /// An ACK matched INVITE server transaction `id`.
    pub fn on_ack(&mut self, id: TxId, msg: M, now: Instant) -> Result<(), Error> {
        match self.machine_mut(id)? {
            Machine::ServerInvite(tx) => tx.on_ack(msg, now),
            other => return Err(other.wrong_kind("on_ack")),
        }
        self.settle(id);
        Ok(())
    }

    /// The TU sends a response on server transaction `id`.
    pub fn send_response(
        &mut self,
        id: TxId,
        status: u16,
        msg: M,
        now: Instant,
    ) -> Result<(), Error> {
        let sent = match self.machine_mut(id)? {
            Machine::ServerInvite(tx) => tx.send_response(status, msg, now),
            Machine::ServerNonInvite(tx) => tx.send_response(status, msg, now),
            other => return Err(other.wrong_kind("send_response")),
        };
        self.settle(id);
        sent
    }

    /// The transport failed to send a message of transaction `id`.
    pub fn on_transport_error(&mut self, id: TxId, now: Instant) -> Result<(), Error> {
        self.machine_mut(id)?.on_transport_error(now);
        self.settle(id);
        Ok(())
    }

    /// Enable Timer C on INVITE client transaction `id` (see [`ClientInvite::enable_timer_c`]).
    pub fn enable_timer_c(&mut self, id: TxId, after: Duration, now: Instant) -> Result<(), Error> {
        match self.machine_mut(id)? {
            Machine::ClientInvite(tx) => tx.enable_timer_c(after, now),
            other => return Err(other.wrong_kind("enable_timer_c")),
        }
        self.settle(id);
        Ok(())
    }

    /// The TU sent a CANCEL for INVITE client transaction `id` (see
    /// [`ClientInvite::cancel_sent`]).
    pub fn cancel_sent(&mut self, id: TxId, now: Instant) -> Result<(), Error> {
        match self.machine_mut(id)? {
            Machine::ClientInvite(tx) => tx.cancel_sent(now),
            other => return Err(other.wrong_kind("cancel_sent")),
        }
        self.settle(id);
        Ok(())
    }

    /// Fire the timers of every transaction due at `now`; others are not touched.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.wakeups.peek() {
            if at > now {
                break;
            }
            self.wakeups.pop();
            let Some(entry) = self.entry_mut(id) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue; // stale: the transaction moved its deadline since
            }
            entry.scheduled = None;
            entry.machine.on_timeout(now);
            self.settle(id);
        }
        self.tidy_wakeups();
    }

    /// The earliest deadline of all transactions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wakeups.peek().map(|&Reverse((at, _))| at)
    }

    /// The next output, tagged with its transaction.
    pub fn poll(&mut self) -> Option<(TxId, Output<M>)> {
        self.out.pop_front()
    }

    /// The state of transaction `id`, if it is live.
    pub fn state(&self, id: TxId) -> Option<TxState> {
        self.entry(id).map(|e| e.machine.state())
    }

    /// The key of transaction `id`, if it is live.
    pub fn key(&self, id: TxId) -> Option<&TransactionKey> {
        self.entry(id).map(|e| &e.key)
    }

    /// The request of live transaction `id`: the one a client sends (the TU builds CANCEL from
    /// it) or the one that created a server transaction (the TU builds a 487 from it).
    pub fn request(&self, id: TxId) -> Option<&M> {
        Some(match &self.entry(id)?.machine {
            Machine::ClientInvite(tx) => tx.request(),
            Machine::ClientNonInvite(tx) => tx.request(),
            Machine::ServerInvite(tx) => tx.request(),
            Machine::ServerNonInvite(tx) => tx.request(),
        })
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Number of live transactions whose exchange is still under way ([`TxState::is_active`]);
    /// the others only absorb retransmissions until their last timer.
    pub fn active_count(&self) -> usize {
        self.active
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn check_free(&self, key: &TransactionKey) -> Result<(), Error> {
        match self.by_key.get(key) {
            Some(&id) => Err(Error::DuplicateKey(id)),
            None => Ok(()),
        }
    }

    fn insert(&mut self, key: TransactionKey, machine: Machine<M>) -> Result<TxId, Error> {
        let entry = Entry {
            key: key.clone(),
            machine,
            scheduled: None,
            active: false,
        };
        let id = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.entry = Some(entry);
                TxId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = u32::try_from(self.slots.len()).map_err(|_| Error::TableFull)?;
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
                TxId {
                    index,
                    generation: 0,
                }
            }
        };
        self.by_key.insert(key, id);
        self.settle(id);
        Ok(id)
    }

    fn entry(&self, id: TxId) -> Option<&Entry<M>> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.entry.as_ref())
            .flatten()
    }

    fn entry_mut(&mut self, id: TxId) -> Option<&mut Entry<M>> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation == id.generation {
            slot.entry.as_mut()
        } else {
            None
        }
    }

    fn machine_mut(&mut self, id: TxId) -> Result<&mut Machine<M>, Error> {
        self.entry_mut(id)
            .map(|e| &mut e.machine)
            .ok_or(Error::UnknownTransaction(id))
    }

    /// After an input to `id`: move its outputs to the table queue, then remove it if it
    /// terminated or re-register its next deadline.
    fn settle(&mut self, id: TxId) {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(entry) = slot.entry.as_mut() else {
            return;
        };
        while let Some(output) = entry.machine.poll() {
            self.out.push_back((id, output));
        }
        let state = entry.machine.state();
        if state.is_active() != entry.active {
            entry.active = state.is_active();
            if entry.active {
                self.active += 1;
            } else {
                self.active -= 1;
            }
        }
        if state.is_terminated() {
            if let Some(entry) = slot.entry.take() {
                self.by_key.remove(&entry.key);
            }
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(id.index);
        } else {
            let next = entry.machine.poll_timeout();
            if next != entry.scheduled {
                entry.scheduled = next;
                if let Some(at) = next {
                    self.wakeups.push(Reverse((at, id)));
                }
            }
        }
        self.tidy_wakeups();
    }

    /// Drop stale entries from the top of the heap, so `poll_timeout` is exact, and rebuild
    /// the heap when stale entries dominate.
    fn tidy_wakeups(&mut self) {
        if self.wakeups.len() > 2 * self.by_key.len() + STALE_SLACK {
            self.wakeups = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(index, slot)| {
                    let at = slot.entry.as_ref()?.scheduled?;
                    let index = u32::try_from(index).ok()?;
                    let generation = slot.generation;
                    Some(Reverse((at, TxId { index, generation })))
                })
                .collect();
        }
        while let Some(&Reverse((at, id))) = self.wakeups.peek() {
            match self.entry(id) {
                Some(entry) if entry.scheduled == Some(at) => break,
                _ => {
                    self.wakeups.pop();
                }
            }
        }
    }

    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.wakeups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, drain, resp, Msg};
    use crate::{ClientInviteState, ServerInviteState, Timer, TuEvent, TxMethod};

    fn ckey(n: u32, method: TxMethod) -> TransactionKey {
        TransactionKey::client(&crate::generate_branch(u64::from(n)), method).unwrap()
    }

    fn skey(n: u32, method: TxMethod) -> TransactionKey {
        TransactionKey::server(
            &crate::generate_branch(u64::from(n)),
            "10.0.0.1:5060",
            method,
        )
        .unwrap()
    }

    fn table() -> TransactionTable<Msg> {
        TransactionTable::new(TimerConfig::default())
    }

    #[test]
    fn insert_sends_and_lookup_finds_by_key() {
        let t0 = Instant::now();
        let mut t = table();
        let id = t
            .insert_client_invite(ckey(1, TxMethod::Invite), Msg::req("INVITE", 1), false, t0)
            .unwrap();
        assert_eq!(
            drain(|| t.poll()),
            vec![(id, Output::Send(Msg::req("INVITE", 1)))]
        );
        assert_eq!(t.lookup(&ckey(1, TxMethod::Invite)), Some(id));
        assert_eq!(t.lookup(&ckey(1, TxMethod::Cancel)), None);
        assert_eq!(t.poll_timeout(), Some(at(t0, 0.5)));
        assert_eq!(t.request(id), Some(&Msg::req("INVITE", 1)));
        assert_eq!(
            t.insert_client_invite(ckey(1, TxMethod::Invite), Msg::req("INVITE", 1), false, t0),
            Err(Error::DuplicateKey(id))
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn terminated_transactions_are_removed_and_their_ids_go_stale() {
        let t0 = Instant::now();
        let mut t = table();
        let key = skey(2, TxMethod::Other("OPTIONS".into()));
        let id = t
            .insert_server_non_invite(key.clone(), Msg::req("OPTIONS", 2), true, t0)
            .unwrap();
        t.send_response(id, 200, resp(200, "OPTIONS", 2), t0)
            .unwrap();
        assert_eq!(
            drain(|| t.poll()),
            vec![
                (id, Output::Send(resp(200, "OPTIONS", 2))),
                (id, Output::Terminated)
            ]
        );
        assert!(t.is_empty());
        assert_eq!(t.lookup(&key), None);
        assert_eq!(t.state(id), None);
        assert_eq!(
            t.on_request(id, Msg::req("OPTIONS", 2), t0),
            Err(Error::UnknownTransaction(id))
        );
        // The slot is reused under a new generation; the old id still names nothing.
        let id2 = t
            .insert_server_non_invite(key, Msg::req("OPTIONS", 2), true, t0)
            .unwrap();
        assert_ne!(id, id2);
        assert_eq!(t.state(id), None);
        assert!(t.state(id2).is_some());
    }

    #[test]
    fn operations_check_the_kind() {
        let t0 = Instant::now();
        let mut t = table();
        let server = t
            .insert_server_invite(skey(3, TxMethod::Invite), Msg::req("INVITE", 3), false, t0)
            .unwrap();
        assert_eq!(
            t.on_response(server, 200, resp(200, "INVITE", 3), t0),
            Err(Error::WrongKind {
                kind: TxKind::ServerInvite,
                op: "on_response"
            })
        );
        let client = t
            .insert_client_non_invite(ckey(3, TxMethod::Cancel), Msg::req("CANCEL", 3), false, t0)
            .unwrap();
        assert!(matches!(
            t.on_ack(client, Msg::req("ACK", 3), t0),
            Err(Error::WrongKind { .. })
        ));
        assert!(matches!(
            t.send_response(client, 200, resp(200, "CANCEL", 3), t0),
            Err(Error::WrongKind { .. })
        ));
        assert!(matches!(
            t.enable_timer_c(server, Duration::from_secs(200), t0),
            Err(Error::WrongKind { .. })
        ));
    }

    #[test]
    fn ack_and_cancel_find_the_invite_server_transaction() {
        let t0 = Instant::now();
        let mut t = table();
        let invite = t
            .insert_server_invite(skey(4, TxMethod::Invite), Msg::req("INVITE", 4), false, t0)
            .unwrap();
        t.send_response(invite, 486, resp(486, "INVITE", 4), t0)
            .unwrap();
        let cancel_key = skey(4, TxMethod::Cancel);
        assert_eq!(t.lookup(&cancel_key), None);
        assert_eq!(
            t.lookup(&cancel_key.invite_for_cancel().unwrap()),
            Some(invite)
        );
        let ack = t.lookup(&skey(4, TxMethod::Ack)).unwrap();
        assert_eq!(ack, invite);
        t.on_ack(ack, Msg::req("ACK", 4), at(t0, 0.1)).unwrap();
        assert_eq!(
            t.state(invite),
            Some(TxState::ServerInvite(ServerInviteState::Confirmed))
        );
    }

    #[test]
    fn handle_timeout_fires_only_due_transactions() {
        let t0 = Instant::now();
        let mut t = table();
        let early = t
            .insert_client_invite(ckey(5, TxMethod::Invite), Msg::req("INVITE", 5), false, t0)
            .unwrap();
        let late = t
            .insert_client_invite(
                ckey(6, TxMethod::Invite),
                Msg::req("INVITE", 6),
                false,
                at(t0, 0.3),
            )
            .unwrap();
        drain(|| t.poll());
        t.handle_timeout(at(t0, 0.5));
        assert_eq!(
            drain(|| t.poll()),
            vec![(early, Output::Send(Msg::req("INVITE", 5)))]
        );
        assert_eq!(t.poll_timeout(), Some(at(t0, 0.8)));
        t.handle_timeout(at(t0, 0.8));
        assert_eq!(
            drain(|| t.poll()),
            vec![(late, Output::Send(Msg::req("INVITE", 6)))]
        );
        assert_eq!(t.poll_timeout(), Some(at(t0, 1.5)));
    }

    #[test]
    fn moved_deadlines_leave_no_spurious_wakeup() {
        let t0 = Instant::now();
        let mut t = table();
        let id = t
            .insert_client_invite(ckey(7, TxMethod::Invite), Msg::req("INVITE", 7), false, t0)
            .unwrap();
        // Ringing stops A and B: nothing is due any more, and poll_timeout knows it.
        t.on_response(id, 180, resp(180, "INVITE", 7), at(t0, 0.1))
            .unwrap();
        assert_eq!(t.poll_timeout(), None);
        t.enable_timer_c(id, Duration::from_secs(200), at(t0, 0.2))
            .unwrap();
        assert_eq!(t.poll_timeout(), Some(at(t0, 200.2)));
        t.handle_timeout(at(t0, 200.2));
        let out = drain(|| t.poll());
        assert!(out.contains(&(id, Output::ToTu(TuEvent::CancelDue))));
        assert_eq!(
            t.state(id),
            Some(TxState::ClientInvite(ClientInviteState::Proceeding))
        );
        t.handle_timeout(at(t0, 232.2));
        assert_eq!(drain(|| t.poll()).last(), Some(&(id, Output::Terminated)));
        assert!(t.is_empty());
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn stale_heap_entries_stay_bounded() {
        let t0 = Instant::now();
        let mut t = table();
        let id = t
            .insert_client_invite(ckey(8, TxMethod::Invite), Msg::req("INVITE", 8), false, t0)
            .unwrap();
        t.on_response(id, 180, resp(180, "INVITE", 8), t0).unwrap();
        // Each 180 pushes a new Timer C deadline; the old ones become stale.
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            t.enable_timer_c(id, Duration::from_secs(200), now).unwrap();
        }
        assert!(t.heap_len() <= 2 * t.len() + STALE_SLACK + 1);
        assert_eq!(
            t.poll_timeout(),
            Some(t0 + Duration::from_millis(9_999) + Duration::from_secs(200))
        );
    }

    #[test]
    fn active_count_leaves_out_lingering_transactions() {
        let t0 = Instant::now();
        let mut t = table();
        let invite = t
            .insert_server_invite(
                skey(10, TxMethod::Invite),
                Msg::req("INVITE", 10),
                false,
                t0,
            )
            .unwrap();
        let options = t
            .insert_server_non_invite(
                skey(11, TxMethod::Other("OPTIONS".into())),
                Msg::req("OPTIONS", 11),
                false,
                t0,
            )
            .unwrap();
        assert_eq!((t.len(), t.active_count()), (2, 2));
        t.send_response(options, 200, resp(200, "OPTIONS", 11), t0)
            .unwrap();
        assert_eq!((t.len(), t.active_count()), (2, 1));
        // A non-2xx INVITE server waits for its ACK: still active.
        t.send_response(invite, 486, resp(486, "INVITE", 10), t0)
            .unwrap();
        assert_eq!(t.active_count(), 1);
        t.on_ack(invite, Msg::req("ACK", 10), t0).unwrap();
        assert_eq!((t.len(), t.active_count()), (2, 0));
        t.handle_timeout(at(t0, 40.0));
        assert_eq!((t.len(), t.active_count()), (0, 0));
    }

    #[test]
    fn transport_error_is_routed_to_the_machine() {
        let t0 = Instant::now();
        let mut t = table();
        let id = t
            .insert_client_non_invite(
                ckey(9, TxMethod::Other("BYE".into())),
                Msg::req("BYE", 9),
                true,
                t0,
            )
            .unwrap();
        drain(|| t.poll());
        t.on_transport_error(id, t0).unwrap();
        assert_eq!(
            drain(|| t.poll()),
            vec![(id, Output::TransportError), (id, Output::Terminated)]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn many_transactions_each_time_out_exactly_once() {
        let t0 = Instant::now();
        let mut t = table();
        let n = 5_000u32;
        for i in 0..n {
            let start = t0 + Duration::from_millis(u64::from(i % 1000));
            let key = ckey(i, TxMethod::Invite);
            t.insert_client_invite(key, Msg::req("INVITE", i), i % 2 == 0, start)
                .unwrap();
        }
        let mut sends = 0usize;
        let mut timeouts = std::collections::HashSet::new();
        let mut wakeups = 0;
        drain(|| t.poll());
        while let Some(next) = t.poll_timeout() {
            wakeups += 1;
            t.handle_timeout(next);
            for (id, out) in drain(|| t.poll()) {
                match out {
                    Output::Send(_) => sends += 1,
                    Output::Timeout(Timer::B) => assert!(timeouts.insert(id)),
                    Output::Terminated => assert!(timeouts.contains(&id)),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(timeouts.len(), n as usize);
        // Only the unreliable half retransmits: 6 times each before Timer B.
        assert_eq!(sends, (n as usize / 2) * 6);
        assert!(t.is_empty());
        assert!(wakeups > 0);
    }
}
