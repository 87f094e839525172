//! Short-lived shared state: replay caches, single-use codes, rate-limit counters.
//!
//! One small trait with two implementations: [`memory::MemoryStore`] (the embedded default, one
//! process) and [`redis::RedisStore`] (shared by replicas). Everything has a TTL. Callers never
//! treat an error as "not found": a store that cannot answer makes the broker fail closed (503),
//! because skipping a replay or single-use check would be a false accept.

pub mod memory;
pub(crate) mod metered;
pub mod redis;

use async_trait::async_trait;
use std::time::{Duration, SystemTime};

/// Why a store call failed; every caller fails closed on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer (connection refused, timeout). Detail goes to the log only.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A compare-and-set that lost every race (retried first).
    #[error("the store kept changing under a compare-and-set; gave up after {0} attempts")]
    Contended(u32),
}

/// The closure of [`Store::update`]: old value (None if absent) → new value (None deletes).
pub(crate) type UpdateFn<'a> = &'a (dyn Fn(Option<&[u8]>) -> Option<Vec<u8>> + Send + Sync);

/// An entry of sorted indexes written with a value by [`Store::put_indexed`].
pub struct IndexEntry<'a> {
    /// The index keys (sorted sets), each gaining `member`.
    pub indexes: &'a [String],
    /// What the indexes list: usually the id inside the value's key.
    pub member: &'a str,
    /// Unix seconds until which the entry is listed (its score).
    pub until: i64,
    /// Unix seconds now: entries listed until then or earlier are dropped on the way.
    pub now: i64,
}

/// Replay caches, pending sign-ins, sessions and counters: one interface, so one replica (memory) and many (Redis) run the same code.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores `value` under `key` for `ttl`, replacing any value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Atomic get-and-delete: of two concurrent takers exactly one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Records `key` if absent (`SET NX PX`); true for the first caller only. The replay cache.
    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Compare-and-set loop: `f` sees the current value and returns the next one. Keeps the
    /// key's TTL as `ttl`. Returns what was written.
    async fn update(
        &self,
        key: &str,
        ttl: Duration,
        f: UpdateFn<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Increments a counter that expires `ttl` after its first increment (fixed-window limits).
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError>;
    /// Deletes `key`; true when it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Writes `value` under `key` for `ttl` and adds `entry.member` to each of `entry.indexes`,
    /// in one atomic step: no reader sees the value without its index entries. An index lives
    /// as long as its latest entry. On Redis Cluster the keys must share a hash tag.
    async fn put_indexed(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        entry: &IndexEntry<'_>,
    ) -> Result<(), StoreError>;
    /// The members of the index `index` listed after `now`, the soonest to end first: a listing
    /// that never scans the keyspace.
    async fn index_members(&self, index: &str, now: i64) -> Result<Vec<String>, StoreError>;
    /// The values under `keys`, in order; `None` where absent or expired.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// When this store's memory began. A store that restarts empty (process restart, Redis
    /// without AOF) gets a new epoch; artefacts issued before it (minus skew) must be refused
    /// so a restart never reopens a replay window.
    async fn epoch(&self) -> Result<SystemTime, StoreError>;
    /// Readiness probe.
    async fn ping(&self) -> Result<(), StoreError>;
    /// A backend setting that would break a guarantee (Redis evicting replay keys under
    /// memory pressure), as a message saying how to fix it; None when safe. Checked at start
    /// (the broker refuses to run) and by readiness (a setting changed at run time).
    async fn unsafe_setting(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    /// The backend's name, for logs and metrics (`memory`, `redis`).
    fn backend(&self) -> &'static str;
}

/// Keys are namespaced `rolegate:<kind>:<id>` so one Redis can serve other tenants too.
pub fn key(kind: &str, id: &str) -> String {
    format!("rolegate:{kind}:{id}")
}

/// Compare-and-set attempts before [`StoreError::Contended`].
pub(crate) const MAX_CAS_ATTEMPTS: u32 = 16;
