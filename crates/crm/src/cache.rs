//! Remembered CRM answers, bounded in size. No clock: `now` is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::Card;

/// Answers by normalised number: a card (positive) or "no card" (negative, which also covers
/// a CRM that failed: the next calls from that number do not wait on it again for a while).
#[derive(Debug)]
pub(crate) struct Cache {
    entries: HashMap<String, Entry>,
    capacity: usize,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

#[derive(Debug)]
struct Entry {
    card: Option<Card>,
    expires: Instant,
}

impl Cache {
    pub(crate) fn new(capacity: usize, positive_ttl: Duration, negative_ttl: Duration) -> Cache {
        Cache {
            entries: HashMap::new(),
            capacity,
            positive_ttl,
            negative_ttl,
        }
    }

    /// `Some(answer)` while a remembered answer is fresh; `None`: ask the CRM.
    pub(crate) fn get(&self, number: &str, now: Instant) -> Option<Option<Card>> {
        self.entries
            .get(number)
            .filter(|entry| now < entry.expires)
            .map(|entry| entry.card.clone())
    }

    pub(crate) fn insert(&mut self, number: String, card: Option<Card>, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&number) {
            self.make_room(now);
        }
        let ttl = match card {
            Some(_) => self.positive_ttl,
            None => self.negative_ttl,
        };
        let expires = now + ttl;
        self.entries.insert(number, Entry { card, expires });
    }

    /// Drops the expired entries; if none had expired, the one closest to expiring. Linear,
    /// but only when the cache is full, and a full cache of 10 000 entries scans in
    /// microseconds: cheaper than keeping an ordered index on every insert.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, entry| now < entry.expires);
        if self.entries.len() < self.capacity {
            return;
        }
        let soonest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.expires)
            .map(|(number, _)| number.clone());
        if let Some(number) = soonest {
            self.entries.remove(&number);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CardSource;

    const MINUTE: Duration = Duration::from_secs(60);

    fn card(name: &str) -> Option<Card> {
        Some(Card {
            number: "+331".into(),
            name: name.into(),
            company: None,
            url: None,
            fields: Default::default(),
            source: CardSource::Http,
        })
    }

    #[test]
    fn positive_and_negative_answers_expire_on_their_own_clocks() {
        let now = Instant::now();
        let mut cache = Cache::new(10, 10 * MINUTE, MINUTE);
        cache.insert("+331".into(), card("A"), now);
        cache.insert("+332".into(), None, now);
        assert_eq!(cache.get("+331", now), Some(card("A")));
        assert_eq!(cache.get("+332", now), Some(None));
        assert_eq!(cache.get("+333", now), None);

        let later = now + MINUTE;
        assert_eq!(cache.get("+331", later), Some(card("A")));
        assert_eq!(
            cache.get("+332", later),
            None,
            "negative answers last a minute"
        );
        assert_eq!(cache.get("+331", now + 10 * MINUTE), None);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_the_soonest_to_expire() {
        let now = Instant::now();
        let mut cache = Cache::new(3, 10 * MINUTE, MINUTE);
        cache.insert("+331".into(), None, now); // expires at 1 min
        cache.insert("+332".into(), card("B"), now); // 10 min
        cache.insert("+333".into(), card("C"), now + MINUTE / 2); // 10.5 min
                                                                  // At 2 min, +331 has expired: it makes the room.
        cache.insert("+334".into(), card("D"), now + 2 * MINUTE);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("+332", now + 2 * MINUTE), Some(card("B")));
        // Nothing expired now: +332 (the soonest) goes.
        cache.insert("+335".into(), card("E"), now + 3 * MINUTE);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("+332", now + 3 * MINUTE), None);
        assert_eq!(cache.get("+333", now + 3 * MINUTE), Some(card("C")));
        // Replacing a present key never evicts.
        cache.insert("+335".into(), None, now + 3 * MINUTE);
        assert_eq!(cache.len(), 3);
    }
}
