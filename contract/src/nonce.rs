//! A bounded, time-windowed cache of seen nonces: each side of the wire keeps
//! one so that a nonce is single-use while its timestamp is fresh.
//!
//! An entry for a nonce signed at `t` lives until `t + window`: after that the
//! freshness check alone refuses the message, so the entry can go. Memory is
//! bounded by `capacity`; when every slot holds a live entry the cache refuses
//! new nonces ([`EnvelopeError::Busy`]) rather than forget a live one (which
//! would reopen a replay). With a quota per owner (the signing device), one
//! owner may hold at most that many live entries and is refused beyond them
//! ([`EnvelopeError::RateLimited`]), so no single signer can fill the cache.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::envelope::{EnvelopeError, FRESHNESS_WINDOW_SECS};

#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    window: i64,
    /// Live entries one owner may hold; `None`: no quota.
    per_owner: Option<usize>,
    seen: HashSet<String>,
    /// (expiry, key, length of the owner's prefix in the key; 0: no owner).
    by_expiry: BTreeSet<(i64, String, usize)>,
    /// Live entries per owner.
    owners: HashMap<String, usize>,
}

impl NonceCache {
    /// A cache of at most `capacity` live nonces over the standard window.
    pub fn new(capacity: usize) -> NonceCache {
        NonceCache::with_window(capacity, FRESHNESS_WINDOW_SECS)
    }

    /// A cache with another window (seconds).
    pub fn with_window(capacity: usize, window_secs: i64) -> NonceCache {
        NonceCache {
            capacity: capacity.max(1),
            window: window_secs.max(0),
            per_owner: None,
            seen: HashSet::new(),
            by_expiry: BTreeSet::new(),
            owners: HashMap::new(),
        }
    }

    /// The same cache, letting one owner hold at most `quota` live entries
    /// (see [`NonceCache::check_and_insert_for`]).
    pub fn per_owner(mut self, quota: usize) -> NonceCache {
        self.per_owner = Some(quota.max(1));
        self
    }

    /// Records `key` (a nonce, or the signer's serial and nonce joined) seen
    /// with `timestamp` at `now`. Refuses a key already seen in the window.
    /// The caller checks freshness first; a stale timestamp is refused here
    /// too, so the cache never holds entries that are already dead.
    pub fn check_and_insert(
        &mut self,
        key: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), EnvelopeError> {
        self.insert(None, key, timestamp, now)
    }

    /// Records `nonce` of `owner` (the signing device's serial_no) like
    /// [`NonceCache::check_and_insert`]; a nonce is single-use per owner. An
    /// owner already holding its quota of live entries is refused with
    /// [`EnvelopeError::RateLimited`] (a replay is still told as one).
    pub fn check_and_insert_for(
        &mut self,
        owner: &str,
        nonce: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), EnvelopeError> {
        self.insert(Some(owner), &format!("{owner}:{nonce}"), timestamp, now)
    }

    fn insert(
        &mut self,
        owner: Option<&str>,
        key: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), EnvelopeError> {
        if timestamp.abs_diff(now) > self.window as u64 {
            return Err(EnvelopeError::Stale);
        }
        self.expire(now);
        if self.seen.contains(key) {
            return Err(EnvelopeError::Replayed);
        }
        if let (Some(owner), Some(quota)) = (owner, self.per_owner)
            && self.owners.get(owner).copied().unwrap_or(0) >= quota
        {
            return Err(EnvelopeError::RateLimited);
        }
        if self.seen.len() >= self.capacity {
            return Err(EnvelopeError::Busy);
        }
        let expiry = timestamp.saturating_add(self.window);
        self.seen.insert(key.to_owned());
        let owner_len = owner.map(str::len).unwrap_or(0);
        self.by_expiry.insert((expiry, key.to_owned(), owner_len));
        if let Some(owner) = owner {
            *self.owners.entry(owner.to_owned()).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Drops every entry whose window has passed at `now`.
    pub fn expire(&mut self, now: i64) {
        while let Some((expiry, _, _)) = self.by_expiry.first() {
            if *expiry >= now {
                break;
            }
            if let Some((_, key, owner_len)) = self.by_expiry.pop_first() {
                self.seen.remove(&key);
                if owner_len > 0
                    && let Some(owner) = key.get(..owner_len)
                    && let Some(n) = self.owners.get_mut(owner)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.owners.remove(owner);
                    }
                }
            }
        }
    }

    /// Live entries held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Live entries held for `owner`.
    pub fn owned_by(&self, owner: &str) -> usize {
        self.owners.get(owner).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000;

    #[test]
    fn a_nonce_is_single_use_within_the_window() {
        let mut c = NonceCache::new(10);
        c.check_and_insert("n1", T, T).unwrap();
        assert_eq!(
            c.check_and_insert("n1", T, T + 10),
            Err(EnvelopeError::Replayed)
        );
        // Even with another (still fresh) timestamp.
        assert_eq!(
            c.check_and_insert("n1", T + 5, T + 10),
            Err(EnvelopeError::Replayed)
        );
        c.check_and_insert("n2", T, T).unwrap();
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn entries_expire_with_the_window() {
        let mut c = NonceCache::new(10);
        c.check_and_insert("n1", T, T).unwrap();
        // At T+300 the nonce's timestamp is still fresh: still refused.
        assert_eq!(
            c.check_and_insert("n1", T, T + 300),
            Err(EnvelopeError::Replayed)
        );
        // At T+301 its timestamp is stale: the entry is gone and a replay is
        // refused as stale instead.
        assert_eq!(
            c.check_and_insert("n1", T, T + 301),
            Err(EnvelopeError::Stale)
        );
        c.expire(T + 301);
        assert!(c.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_full_refuses() {
        let mut c = NonceCache::new(3);
        for i in 0..3 {
            c.check_and_insert(&format!("n{i}"), T, T).unwrap();
        }
        assert_eq!(c.check_and_insert("n3", T, T), Err(EnvelopeError::Busy));
        assert_eq!(c.len(), 3);
        // Once the window passes, room comes back.
        c.check_and_insert("n3", T + 400, T + 400).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn future_timestamps_are_kept_until_their_own_window_ends() {
        let mut c = NonceCache::new(10);
        c.check_and_insert("f", T + 300, T).unwrap();
        assert_eq!(
            c.check_and_insert("f", T + 300, T + 599),
            Err(EnvelopeError::Replayed)
        );
        assert_eq!(
            c.check_and_insert("x", T - 301, T),
            Err(EnvelopeError::Stale)
        );
        assert_eq!(
            c.check_and_insert("y", i64::MAX, i64::MIN),
            Err(EnvelopeError::Stale)
        );
    }

    #[test]
    fn one_owner_cannot_fill_the_cache() {
        let mut c = NonceCache::new(10).per_owner(3);
        for i in 0..3 {
            c.check_and_insert_for("dev-a", &format!("n{i}"), T, T)
                .unwrap();
        }
        assert_eq!(
            c.check_and_insert_for("dev-a", "n3", T, T),
            Err(EnvelopeError::RateLimited)
        );
        // A replay is still told as a replay.
        assert_eq!(
            c.check_and_insert_for("dev-a", "n0", T, T),
            Err(EnvelopeError::Replayed)
        );
        // Nonces are per owner, and another owner still has room.
        c.check_and_insert_for("dev-b", "n0", T, T).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c.owned_by("dev-a"), 3);
        // Once the window passes, the owner's quota comes back.
        c.check_and_insert_for("dev-a", "n9", T + 400, T + 400)
            .unwrap();
        assert_eq!(c.owned_by("dev-a"), 1);
        assert_eq!(c.owned_by("dev-b"), 0);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_shared_capacity_still_bounds_every_owner_together() {
        let mut c = NonceCache::new(4).per_owner(3);
        for owner in ["a", "b"] {
            for i in 0..2 {
                c.check_and_insert_for(owner, &format!("n{i}"), T, T)
                    .unwrap();
            }
        }
        assert_eq!(
            c.check_and_insert_for("c", "n0", T, T),
            Err(EnvelopeError::Busy)
        );
        // Without a quota an owner is bounded by the capacity only.
        let mut c = NonceCache::new(4);
        for i in 0..4 {
            c.check_and_insert_for("a", &format!("n{i}"), T, T).unwrap();
        }
        assert_eq!(
            c.check_and_insert_for("a", "n4", T, T),
            Err(EnvelopeError::Busy)
        );
    }
}
