//! Fixed ring of packet slots indexed by extended sequence number modulo a power of two.
//!
//! Why a ring and not a map or a sorted queue: the buffer only ever holds a window of consecutive
//! sequence numbers (`[cursor, cursor + capacity)`), so `seq & mask` is a perfect hash. Lookup,
//! insert and removal are one index; nothing allocates after construction. A slot remembers the
//! sequence number it last held after the packet left, so a duplicate of a packet already played
//! is recognised as a duplicate rather than as a late packet.

use super::JitterPacket;

/// A buffered packet with its widened numbers and arrival time in the buffer's µs timeline.
#[derive(Clone, Debug)]
pub(crate) struct Entry<P> {
    pub(crate) packet: JitterPacket<P>,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    pub(crate) arrival_us: i64,
}

#[derive(Clone, Debug)]
enum Slot<P> {
    Empty,
    Held(Entry<P>),
    /// The packet with this extended sequence number was here and left (played or dropped).
    Consumed(u64),
}

#[derive(Clone, Debug)]
pub(crate) struct Ring<P> {
    slots: Box<[Slot<P>]>,
    mask: u64,
    held: usize,
}

impl<P> Ring<P> {
    /// A ring of at least `min_capacity` slots (rounded up to a power of two, at least 2).
    pub(crate) fn new(min_capacity: usize) -> Self {
        let cap = min_capacity.max(2).next_power_of_two();
        Self {
            slots: (0..cap).map(|_| Slot::Empty).collect(),
            mask: cap as u64 - 1,
            held: 0,
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    pub(crate) fn held(&self) -> usize {
        self.held
    }

    fn index(&self, seq: u64) -> usize {
        // The mask keeps the value below the slot count, which is a usize.
        (seq & self.mask) as usize
    }

    /// The packet with this sequence number, if buffered.
    pub(crate) fn get(&self, seq: u64) -> Option<&Entry<P>> {
        match &self.slots[self.index(seq)] {
            Slot::Held(e) if e.seq == seq => Some(e),
            _ => None,
        }
    }

    /// Whether the packet with this sequence number was here and already left.
    pub(crate) fn was_consumed(&self, seq: u64) -> bool {
        matches!(self.slots[self.index(seq)], Slot::Consumed(s) if s == seq)
    }

    /// Stores a packet. The caller keeps the window smaller than the capacity, so the slot
    /// holds nothing live; if it did, the old packet is returned rather than lost silently.
    pub(crate) fn put(&mut self, entry: Entry<P>) -> Option<Entry<P>> {
        let i = self.index(entry.seq);
        let old = std::mem::replace(&mut self.slots[i], Slot::Held(entry));
        match old {
            Slot::Held(e) => Some(e),
            _ => {
                self.held += 1;
                None
            }
        }
    }

    /// Removes the packet with this sequence number, remembering that it was here.
    pub(crate) fn take(&mut self, seq: u64) -> Option<Entry<P>> {
        let i = self.index(seq);
        match &self.slots[i] {
            Slot::Held(e) if e.seq == seq => {}
            _ => return None,
        }
        match std::mem::replace(&mut self.slots[i], Slot::Consumed(seq)) {
            Slot::Held(e) => {
                self.held -= 1;
                Some(e)
            }
            _ => None,
        }
    }

    /// Lowest buffered sequence number in `from..=to`.
    pub(crate) fn first_held(&self, from: u64, to: u64) -> Option<u64> {
        if self.held == 0 || to < from {
            return None;
        }
        let end = to.min(from + self.mask);
        (from..=end).find(|&s| self.get(s).is_some())
    }

    /// Drops everything, including the memory of consumed packets (a new stream reuses
    /// sequence numbers).
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.held;
        for s in self.slots.iter_mut() {
            *s = Slot::Empty;
        }
        self.held = 0;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn entry(seq: u64) -> Entry<u32> {
        Entry {
            packet: JitterPacket {
                seq: seq as u16,
                timestamp: 0,
                ssrc: 1,
                marker: false,
                comfort_noise: false,
                payload: seq as u32,
                arrival: Instant::now(),
            },
            seq,
            ts: 0,
            arrival_us: 0,
        }
    }

    #[test]
    fn put_get_take_and_consumed_memory() {
        let mut r = Ring::new(5);
        assert_eq!(r.capacity(), 8);
        assert!(r.put(entry(100)).is_none());
        assert!(r.put(entry(103)).is_none());
        assert_eq!(r.held(), 2);
        assert_eq!(r.first_held(99, 110), Some(100));
        assert_eq!(r.first_held(101, 110), Some(103));
        // 108 maps to the same slot as 100 but is not 100.
        assert!(r.get(108).is_none());
        assert_eq!(r.take(100).map(|e| e.seq), Some(100));
        assert!(r.take(100).is_none());
        assert!(r.was_consumed(100));
        assert!(!r.was_consumed(108));
        assert_eq!(r.held(), 1);
        assert_eq!(r.clear(), 1);
        assert!(!r.was_consumed(100));
        assert_eq!(r.first_held(0, 1000), None);
    }

    #[test]
    fn put_over_live_slot_returns_old_packet() {
        let mut r = Ring::new(4);
        r.put(entry(1));
        let old = r.put(entry(5));
        assert_eq!(old.map(|e| e.seq), Some(1));
        assert_eq!(r.held(), 1);
    }
}
