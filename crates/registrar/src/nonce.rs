//! Stateless nonces and nonce-count replay protection.
//!
//! A nonce is 64 lowercase hex digits encoding 32 bytes:
//! `issued_ms (u64) ‖ seq (u32) ‖ random (u32) ‖ HMAC-SHA256(secret, "nonce" ‖ the 16 bytes
//! before)[..16]`, integers big-endian. `seq` counts issued nonces, so `(issued_ms, seq)`
//! orders nonces by issue even within one millisecond.
//! `issued_ms` counts milliseconds since the registrar's epoch (the first `now` it saw), so a
//! nonce carries its own age and needs no table to be checked; the MAC (verified in constant
//! time) proves we issued it. The random half comes from a ChaCha generator seeded from the
//! secret, so tests are deterministic and nonces unpredictable to anyone without the secret.
//! Nonces are not bound to the client address: phones that change network keep working.
//!
//! Statelessness leaves one gap: replay. [`NonceTracker`] remembers, per nonce that was used
//! successfully, the highest `nc` accepted; `nc` must strictly increase. Its size is capped;
//! when it evicts a live nonce, every nonce issued up to that one (the *horizon*, exact thanks
//! to `seq`) is treated as forgotten, and a request using one gets a `stale=true` challenge rather than being
//! accepted without a replay check.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::Sha256;

use crate::Error;

type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 16;
const RAW_LEN: usize = 16 + TAG_LEN;
/// Length of a nonce as text.
pub(crate) const NONCE_TEXT_LEN: usize = RAW_LEN * 2;

/// Identity of an issued nonce; orders by issue (time, then sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NonceKey {
    pub(crate) issued_ms: u64,
    pub(crate) seq: u32,
    pub(crate) random: u32,
}

/// Issues and authenticates nonces.
pub(crate) struct NonceCodec {
    /// Keyed HMAC state, cloned per use so the key schedule is paid once.
    mac: HmacSha256,
    rng: StdRng,
    seq: u32,
}

impl NonceCodec {
    pub(crate) fn new(secret: &[u8; 32]) -> Result<Self, Error> {
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| Error::Config("secret"))?;
        let mut codec = Self {
            mac,
            rng: StdRng::from_seed([0; 32]),
            seq: 0,
        };
        codec.rng = StdRng::from_seed(codec.derive(b"nonce rng"));
        Ok(codec)
    }

    /// A fresh nonce issued at `issued_ms`.
    pub(crate) fn issue(&mut self, issued_ms: u64) -> NonceText {
        let random = self.rng.next_u32();
        self.seq = self.seq.wrapping_add(1);
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&issued_ms.to_be_bytes());
        raw[8..12].copy_from_slice(&self.seq.to_be_bytes());
        raw[12..16].copy_from_slice(&random.to_be_bytes());
        let tag = self.tag(&raw[..16]);
        raw[16..].copy_from_slice(&tag[..TAG_LEN]);
        let mut text = [0u8; NONCE_TEXT_LEN];
        // Sizes match by construction (2 hex digits per byte), so this cannot fail.
        let _ = hex::encode_to_slice(raw, &mut text);
        NonceText(text)
    }

    /// The nonce's key if we issued it (MAC checked in constant time), else `None`.
    pub(crate) fn verify(&self, text: &str) -> Option<NonceKey> {
        if text.len() != NONCE_TEXT_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        hex::decode_to_slice(text, &mut raw).ok()?;
        let mut mac = self.mac.clone();
        mac.update(b"nonce");
        mac.update(&raw[..16]);
        mac.verify_truncated_left(&raw[16..]).ok()?;
        let mut ts = [0u8; 8];
        let mut seq = [0u8; 4];
        let mut rnd = [0u8; 4];
        ts.copy_from_slice(&raw[..8]);
        seq.copy_from_slice(&raw[8..12]);
        rnd.copy_from_slice(&raw[12..16]);
        Some(NonceKey {
            issued_ms: u64::from_be_bytes(ts),
            seq: u32::from_be_bytes(seq),
            random: u32::from_be_bytes(rnd),
        })
    }

    /// HMAC of `label` under the secret, domain-separated from the nonce tags.
    pub(crate) fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(b"derive");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    fn tag(&self, body: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(b"nonce");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// A nonce as ASCII hex, on the stack.
pub(crate) struct NonceText([u8; NONCE_TEXT_LEN]);

impl NonceText {
    pub(crate) fn as_str(&self) -> &str {
        // Only hex digits are written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Result of checking a nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NcCheck {
    /// Higher than any accepted before for this nonce.
    Fresh,
    /// Equal to or lower than one already accepted: a replay.
    Replay,
    /// The nonce may have been used and then evicted: ask for a new one.
    Forgotten,
}

/// Highest accepted `nc` per nonce, bounded.
pub(crate) struct NonceTracker {
    seen: BTreeMap<NonceKey, u32>,
    cap: usize,
    /// Every nonce at or below this key is considered forgotten.
    horizon: Option<NonceKey>,
}

impl NonceTracker {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            seen: BTreeMap::new(),
            cap: cap.max(1),
            horizon: None,
        }
    }

    pub(crate) fn check(&self, key: NonceKey, nc: u32) -> NcCheck {
        match self.seen.get(&key) {
            Some(&highest) if nc <= highest => NcCheck::Replay,
            Some(_) => NcCheck::Fresh,
            None if self.horizon.is_some_and(|h| key <= h) => NcCheck::Forgotten,
            None => NcCheck::Fresh,
        }
    }

    /// Records an accepted `nc` (call only after [`NonceTracker::check`] said `Fresh`).
    pub(crate) fn record(&mut self, key: NonceKey, nc: u32) {
        if let Some(highest) = self.seen.get_mut(&key) {
            *highest = (*highest).max(nc);
            return;
        }
        while !self.seen.is_empty() && self.seen.len() >= self.cap {
            self.evict_oldest();
        }
        self.seen.insert(key, nc);
    }

    /// Changes the cap, evicting (and moving the horizon) if the table is now too big, so
    /// no used nonce is forgotten silently.
    pub(crate) fn set_cap(&mut self, cap: usize) {
        self.cap = cap.max(1);
        while self.seen.len() > self.cap {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((evicted, _)) = self.seen.pop_first() {
            self.horizon = Some(self.horizon.map_or(evicted, |h| h.max(evicted)));
        }
    }

    /// Forgets nonces issued before `oldest_valid_ms`: they are rejected as expired anyway.
    pub(crate) fn prune(&mut self, oldest_valid_ms: u64) {
        while let Some(entry) = self.seen.first_entry() {
            if entry.key().issued_ms >= oldest_valid_ms {
                break;
            }
            entry.remove();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> NonceCodec {
        NonceCodec::new(&[7u8; 32]).expect("any 32-byte key")
    }

    #[test]
    fn issued_nonces_verify_and_carry_their_time() {
        let mut c = codec();
        let a = c.issue(1234);
        let b = c.issue(1234);
        assert_eq!(a.as_str().len(), NONCE_TEXT_LEN);
        assert_ne!(a.as_str(), b.as_str(), "random part differs");
        let key = c.verify(a.as_str()).expect("ours");
        assert_eq!(key.issued_ms, 1234);
        let key_b = c.verify(b.as_str()).expect("ours");
        assert!(key < key_b, "issue order within one millisecond");
    }

    #[test]
    fn forged_or_foreign_nonces_fail() {
        let mut c = codec();
        let good = c.issue(99).as_str().to_owned();
        // Flip one digit of the timestamp: the MAC no longer matches.
        let mut forged = good.clone().into_bytes();
        forged[15] = if forged[15] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert!(c.verify(&forged).is_none());
        // Another secret's nonce.
        let mut other = NonceCodec::new(&[8u8; 32]).expect("key");
        assert!(c.verify(other.issue(99).as_str()).is_none());
        // Garbage of the right length, wrong length, non-hex, non-ASCII.
        assert!(c.verify(&"0".repeat(NONCE_TEXT_LEN)).is_none());
        assert!(c.verify(&good[..10]).is_none());
        assert!(c.verify(&"z".repeat(NONCE_TEXT_LEN)).is_none());
        assert!(c.verify(&"\u{e9}".repeat(NONCE_TEXT_LEN / 2)).is_none());
        assert!(c.verify(&good).is_some());
    }

    #[test]
    fn same_secret_is_deterministic() {
        let mut a = codec();
        let mut b = codec();
        assert_eq!(a.issue(5).as_str(), b.issue(5).as_str());
    }

    #[test]
    fn nc_must_strictly_increase() {
        let mut t = NonceTracker::new(10);
        let k = NonceKey {
            issued_ms: 1,
            seq: 1,
            random: 1,
        };
        assert_eq!(t.check(k, 1), NcCheck::Fresh);
        t.record(k, 1);
        assert_eq!(t.check(k, 1), NcCheck::Replay);
        assert_eq!(t.check(k, 0), NcCheck::Replay);
        assert_eq!(t.check(k, 2), NcCheck::Fresh);
        t.record(k, 2);
        assert_eq!(t.check(k, 2), NcCheck::Replay);
    }

    #[test]
    fn eviction_moves_the_horizon() {
        let mut t = NonceTracker::new(2);
        let k = |ms| NonceKey {
            issued_ms: ms,
            seq: 0,
            random: 0,
        };
        t.record(k(1), 1);
        t.record(k(2), 1);
        t.record(k(3), 1); // evicts k(1)
        assert_eq!(t.len(), 2);
        assert_eq!(t.check(k(1), 5), NcCheck::Forgotten);
        assert_eq!(t.check(k(0), 1), NcCheck::Forgotten, "unused but older");
        assert_eq!(t.check(k(2), 1), NcCheck::Replay);
        assert_eq!(t.check(k(4), 1), NcCheck::Fresh);
    }

    #[test]
    fn shrinking_the_cap_moves_the_horizon() {
        let mut t = NonceTracker::new(10);
        let k = |ms| NonceKey {
            issued_ms: ms,
            seq: 0,
            random: 0,
        };
        t.record(k(1), 1);
        t.record(k(2), 1);
        t.set_cap(1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.check(k(1), 2), NcCheck::Forgotten);
        assert_eq!(t.check(k(2), 1), NcCheck::Replay);
    }

    #[test]
    fn prune_drops_expired_without_moving_horizon() {
        let mut t = NonceTracker::new(10);
        for ms in 1..=5 {
            t.record(
                NonceKey {
                    issued_ms: ms,
                    seq: 0,
                    random: 0,
                },
                1,
            );
        }
        t.prune(4);
        assert_eq!(t.len(), 2);
        let k2 = NonceKey {
            issued_ms: 2,
            seq: 0,
            random: 0,
        };
        // Pruned entries are expired; the caller rejects them on age, not on the tracker.
        assert_eq!(t.check(k2, 1), NcCheck::Fresh);
    }
}
