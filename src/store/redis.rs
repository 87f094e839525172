//! The shared store for replicas: Redis through a `ConnectionManager`, which multiplexes one
//! connection and reconnects by itself when Redis comes back, so recovery needs no restart.
//!
//! Every multi-step operation is a single command or a Lua script, so it is atomic on the
//! server: `take` is `GETDEL`, `insert_once` is `SET NX PX`, `update` is a compare-and-set
//! script retried on conflict. Short timeouts turn a dead Redis into a fast 503, not a hang.

use super::{MAX_CAS_ATTEMPTS, Store, StoreError, UpdateFn};
use crate::secret::Secret;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct RedisStore {
    conn: ConnectionManager,
    cas: Script,
    incr: Script,
    epoch: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore") // the URL may carry a password
    }
}

/// Set only when absent, then read: the epoch of Redis's current memory (see `Store::epoch`).
const EPOCH_LUA: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])";

/// ARGV: expected-present ('0'/'1'), expected value, write ('0' delete / '1' set), new value, ttl ms.
const CAS_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
local matches = (cur == false and ARGV[1] == '0') or (cur ~= false and ARGV[1] == '1' and cur == ARGV[2])
if not matches then return 0 end
if ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5]) else redis.call('DEL', KEYS[1]) end
return 1";

/// The window starts at the first increment; later increments keep its expiry.
const INCR_LUA: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

impl RedisStore {
    /// Connects lazily: the broker starts (and reports not-ready) while Redis is down.
    pub fn connect(url: &Secret<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url.expose().as_str())
            .map_err(|e| StoreError::Unavailable(format!("invalid redis URL: {:?}", e.kind())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(1000)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        Ok(RedisStore {
            conn,
            cas: Script::new(CAS_LUA),
            incr: Script::new(INCR_LUA),
            epoch: Script::new(EPOCH_LUA),
        })
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn ms(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, u64::MAX as u128) as u64
}

#[async_trait]
impl Store for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms(ttl)));
        c.set_options::<_, _, ()>(key, value, opts)
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        c.get(key).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        c.get_del(key).await.map_err(unavailable)
    }

    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let opts = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(ms(ttl)));
        let set: Option<String> = c.set_options(key, b"1", opts).await.map_err(unavailable)?;
        Ok(set.is_some())
    }

    async fn update(
        &self,
        key: &str,
        ttl: Duration,
        f: UpdateFn<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.get(key).await?;
            let next = f(current.as_deref());
            let mut c = self.conn.clone();
            let mut inv = self.cas.key(key);
            inv.arg(if current.is_some() { "1" } else { "0" })
                .arg(current.as_deref().unwrap_or_default())
                .arg(if next.is_some() { "1" } else { "0" })
                .arg(next.as_deref().unwrap_or_default())
                .arg(ms(ttl));
            let won: i64 = inv.invoke_async(&mut c).await.map_err(unavailable)?;
            if won == 1 {
                return Ok(next);
            }
        }
        Err(StoreError::Contended(MAX_CAS_ATTEMPTS))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        self.incr
            .key(key)
            .arg(ms(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: u64 = c.del(key).await.map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn epoch(&self) -> Result<SystemTime, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut c = self.conn.clone();
        let ms: u64 = self
            .epoch
            .key(super::key("store", "epoch"))
            .arg(now)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(UNIX_EPOCH + Duration::from_millis(ms))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
