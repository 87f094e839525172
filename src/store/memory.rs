//! The embedded default store: a mutex-guarded map with lazy expiry. One process only; its
//! memory ends with the process, which is exactly what `epoch` reports.

use super::{IndexEntry, Store, StoreError, UpdateFn};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The in-process store: for one replica (and tests), lost on restart.
#[derive(Debug)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    /// Sorted indexes: index key → its members, each listed until an instant (unix seconds).
    indexes: Mutex<HashMap<String, Index>>,
    started: SystemTime,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            map: Mutex::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            started: SystemTime::now(),
        }
    }
}

impl MemoryStore {
    /// Every operation is O(1) under a short lock; the map is swept of expired entries when it
    /// grows, so abandoned keys cannot pile up without bound.
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (Vec<u8>, Instant)>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 && map.len().is_power_of_two() {
            map.retain(|_, (_, exp)| *exp > now);
        }
        f(&mut map, now)
    }
}

fn live<'a>(
    map: &'a HashMap<String, (Vec<u8>, Instant)>,
    key: &str,
    now: Instant,
) -> Option<&'a Vec<u8>> {
    map.get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)
}

#[async_trait]
impl Store for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.with(|m, now| m.insert(key.to_string(), (value.to_vec(), now + ttl)));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|m, now| live(m, key, now).cloned()))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|m, now| m.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)))
    }

    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.with(|m, now| {
            if live(m, key, now).is_some() {
                return false;
            }
            m.insert(key.to_string(), (Vec::new(), now + ttl));
            true
        }))
    }

    async fn update(
        &self,
        key: &str,
        ttl: Duration,
        f: UpdateFn<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|m, now| {
            let next = f(live(m, key, now).map(Vec::as_slice));
            match &next {
                Some(v) => m.insert(key.to_string(), (v.clone(), now + ttl)),
                None => m.remove(key),
            };
            next
        }))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        Ok(self.with(|m, now| {
            let current = live(m, key, now)
                .and_then(|v| v.as_slice().try_into().ok())
                .map(u64::from_be_bytes);
            let exp = match current {
                Some(_) => m[key].1,
                None => now + ttl,
            };
            let n = current.unwrap_or(0) + 1;
            m.insert(key.to_string(), (n.to_be_bytes().to_vec(), exp));
            n
        }))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.with(|m, now| m.remove(key).is_some_and(|(_, exp)| exp > now)))
    }

    async fn put_indexed(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        entry: &IndexEntry<'_>,
    ) -> Result<(), StoreError> {
        // The index lock is taken first and held across the value's write: a reader listing an
        // index (same order) sees both or neither.
        let mut indexes = self
            .indexes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.with(|m, now| m.insert(key.to_string(), (value.to_vec(), now + ttl)));
        for index in entry.indexes {
            let members = indexes.entry(index.clone()).or_default();
            members.prune(entry.now);
            members.insert(entry.member, entry.until);
        }
        Ok(())
    }

    async fn index_members(&self, index: &str, now: i64) -> Result<Vec<String>, StoreError> {
        let indexes = self
            .indexes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(indexes.get(index).map(|i| i.live(now)).unwrap_or_default())
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(self.with(|m, now| keys.iter().map(|k| live(m, k, now).cloned()).collect()))
    }

    async fn epoch(&self) -> Result<SystemTime, StoreError> {
        Ok(self.started)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// One index: its members by name and by the instant they are listed until, so a write prunes
/// the expired ones from the front (amortised O(log n)) instead of scanning them all — an
/// index a busy person or role fills with thousands of sessions stays cheap to write.
#[derive(Debug, Default)]
struct Index {
    until: HashMap<String, i64>,
    by_until: BTreeSet<(i64, String)>,
}

impl Index {
    fn insert(&mut self, member: &str, until: i64) {
        if let Some(old) = self.until.insert(member.to_string(), until) {
            self.by_until.remove(&(old, member.to_string()));
        }
        self.by_until.insert((until, member.to_string()));
    }

    /// Drops the members listed until `now` or before.
    fn prune(&mut self, now: i64) {
        while self
            .by_until
            .first()
            .is_some_and(|(until, _)| *until <= now)
        {
            if let Some((_, member)) = self.by_until.pop_first() {
                self.until.remove(&member);
            }
        }
    }

    /// The members listed after `now`, the soonest to go first (as Redis's ZRANGEBYSCORE).
    fn live(&self, now: i64) -> Vec<String> {
        self.by_until
            .range((now.saturating_add(1), String::new())..)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

#[cfg(test)]
mod index_tests {
    use super::Index;

    #[test]
    fn members_list_by_expiry_and_a_rewrite_moves_a_member_instead_of_duplicating_it() {
        let mut i = Index::default();
        i.insert("b", 30);
        i.insert("a", 20);
        i.insert("c", 10);
        assert_eq!(i.live(0), ["c", "a", "b"]);
        assert_eq!(i.live(20), ["b"], "listed until 20: gone at 20");
        i.insert("c", 40);
        assert_eq!(i.live(0), ["a", "b", "c"]);
        i.prune(25);
        assert_eq!(i.live(0), ["b", "c"]);
        assert_eq!(i.until.len(), 2, "pruned from both views");
        i.prune(i64::MAX);
        assert!(i.live(i64::MIN).is_empty() && i.until.is_empty());
    }
}
