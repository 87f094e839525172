//! The shared store for replicas: Redis through a `ConnectionManager`, which multiplexes one
//! connection and reconnects by itself when Redis comes back, so recovery needs no restart.
//!
//! Every multi-step operation is a single command or a Lua script, so it is atomic on the
//! server: `take` is `GETDEL`, `insert_once` is `SET NX PX`, `update` is a compare-and-set
//! script retried on conflict. Short timeouts turn a dead Redis into a fast 503, not a hang.
//!
//! With Redis Sentinel, a watcher asks the sentinels for the master's address every second
//! and, when a failover moved it, swaps in a connection to the new master: requests fail
//! closed (503) for the seconds the failover takes, then go to the new master without a
//! broker restart.

use super::{IndexEntry, MAX_CAS_ATTEMPTS, Store, StoreError, UpdateFn};
use crate::config::SentinelConfig;
use crate::secret::Secret;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// None until Sentinel named a master.
type Current = Arc<RwLock<Option<ConnectionManager>>>;

/// A connection to whatever the deployment runs: one server (or Sentinel's master), or a
/// Redis Cluster whose client routes each key to its slot. Every operation touches one key,
/// so the scripts run unchanged on a cluster.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

enum Backend {
    Single(Current),
    Cluster(Box<Cluster>),
}

/// Connected on first use (the broker starts, not ready, while the cluster is down).
struct Cluster {
    client: redis::cluster::ClusterClient,
    conn: tokio::sync::OnceCell<redis::cluster_async::ClusterConnection>,
}

/// The Redis store: one server, Sentinel or Cluster, shared by every replica.
pub struct RedisStore {
    conn: Backend,
    cas: Script,
    incr: Script,
    epoch: Script,
    put_indexed: Script,
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

/// KEYS: the value's key, then the indexes. ARGV: value, ttl ms, member, until, now (unix
/// seconds). One script, so the value and its index entries appear together; each index drops
/// what ended by now and lives until its latest entry (a TTL counted from the broker's `now`,
/// so Redis's own clock does not matter).
const PUT_INDEXED_LUA: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5])
  -- The index lives as long as its last member: extended, never shortened (TTL is -1 on a
  -- key just created).
  local ttl = math.max(1, tonumber(ARGV[4]) - tonumber(ARGV[5]) + 1)
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1";

fn manager(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url)
        .map_err(|e| StoreError::Unavailable(format!("invalid redis URL: {:?}", e.kind())))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(1000)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)
}

/// The master's `host:port` according to the first sentinel that answers.
async fn ask_sentinels(s: &SentinelConfig) -> Option<(String, u16)> {
    for addr in &s.addrs {
        let Ok(client) = redis::Client::open(format!("redis://{addr}")) else {
            continue;
        };
        let ask = async {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&s.master)
                .query_async::<Option<(String, u16)>>(&mut c)
                .await
        };
        if let Ok(Ok(Some(master))) = tokio::time::timeout(Duration::from_millis(500), ask).await {
            return Some(master);
        }
    }
    None
}

/// Follows the master across failovers until the store is dropped.
async fn watch_sentinels(
    current: Weak<RwLock<Option<ConnectionManager>>>,
    url: url::Url,
    s: SentinelConfig,
) {
    let mut master: Option<(String, u16)> = None;
    loop {
        let Some(slot) = current.upgrade() else {
            return;
        };
        match ask_sentinels(&s).await {
            Some(m) if master.as_ref() != Some(&m) => {
                let mut u = url.clone();
                let moved = u.set_host(Some(&m.0)).is_ok() && u.set_port(Some(m.1)).is_ok();
                match (moved, manager(u.as_str())) {
                    (true, Ok(conn)) => {
                        tracing::info!(master = %format!("{}:{}", m.0, m.1), name = %s.master, "redis master (from Sentinel)");
                        *slot.write().expect("redis lock") = Some(conn);
                        master = Some(m);
                    }
                    _ => {
                        tracing::error!(name = %s.master, "Sentinel named a master that cannot be used");
                    }
                }
            }
            Some(_) => {}
            None => {
                tracing::warn!(name = %s.master, "no sentinel answered; keeping the last master");
            }
        }
        drop(slot);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl RedisStore {
    /// Connects lazily: the broker starts (and reports not-ready) while Redis is down. With
    /// Sentinel, needs a Tokio runtime: the watcher task starts here.
    pub fn connect(
        url: &Secret<String>,
        sentinel: Option<&SentinelConfig>,
    ) -> Result<Self, StoreError> {
        let conn = match sentinel {
            None => Backend::Single(Arc::new(RwLock::new(Some(manager(url.expose())?)))),
            Some(s) => {
                let parsed = url::Url::parse(url.expose())
                    .map_err(|_| StoreError::Unavailable("invalid redis URL".into()))?;
                let slot: Current = Arc::new(RwLock::new(None));
                tokio::spawn(watch_sentinels(Arc::downgrade(&slot), parsed, s.clone()));
                Backend::Single(slot)
            }
        };
        Ok(Self::with(conn))
    }

    /// Redis Cluster: `nodes` are seed URLs (`redis://[:password@]host:port`); the client
    /// learns the slot map from them and follows MOVED/ASK redirections and failovers.
    pub fn connect_cluster(nodes: &[String]) -> Result<Self, StoreError> {
        let client = redis::cluster::ClusterClient::builder(nodes.to_vec())
            .connection_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_millis(1000))
            .retries(2)
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("invalid cluster nodes: {:?}", e.kind()))
            })?;
        Ok(Self::with(Backend::Cluster(Box::new(Cluster {
            client,
            conn: tokio::sync::OnceCell::new(),
        }))))
    }

    fn with(conn: Backend) -> Self {
        RedisStore {
            conn,
            cas: Script::new(CAS_LUA),
            incr: Script::new(INCR_LUA),
            epoch: Script::new(EPOCH_LUA),
            put_indexed: Script::new(PUT_INDEXED_LUA),
        }
    }
}

impl RedisStore {
    /// The connection to the current master (a cheap clone of the multiplexed handle).
    async fn conn(&self) -> Result<Conn, StoreError> {
        match &self.conn {
            Backend::Single(current) => current
                .read()
                .expect("redis lock")
                .clone()
                .map(Conn::Single)
                .ok_or_else(|| {
                    StoreError::Unavailable("no redis master known yet (Sentinel)".into())
                }),
            Backend::Cluster(cluster) => cluster
                .conn
                .get_or_try_init(|| async {
                    tokio::time::timeout(
                        Duration::from_secs(2),
                        cluster.client.get_async_connection(),
                    )
                    .await
                    .map_err(|_| {
                        StoreError::Unavailable("redis cluster: connect timed out".into())
                    })?
                    .map_err(unavailable)
                })
                .await
                .cloned()
                .map(Conn::Cluster),
        }
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Store for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms(ttl)));
        c.set_options::<_, _, ()>(key, value, opts)
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await?;
        c.get(key).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await?;
        c.get_del(key).await.map_err(unavailable)
    }

    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
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
            let mut c = self.conn().await?;
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
        let mut c = self.conn().await?;
        self.incr
            .key(key)
            .arg(ms(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let n: u64 = c.del(key).await.map_err(unavailable)?;
        Ok(n > 0)
    }

    async fn put_indexed(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        entry: &IndexEntry<'_>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let mut inv = self.put_indexed.key(key);
        for index in entry.indexes {
            inv.key(index);
        }
        inv.arg(value)
            .arg(ms(ttl))
            .arg(entry.member)
            .arg(entry.until)
            .arg(entry.now);
        let _: i64 = inv.invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(())
    }

    async fn index_members(&self, index: &str, now: i64) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn().await?;
        // `(now`: strictly after now, as the memory store lists.
        redis::cmd("ZRANGEBYSCORE")
            .arg(index)
            .arg(format!("({now}"))
            .arg("+inf")
            .query_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.conn().await?;
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn epoch(&self) -> Result<SystemTime, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let now = u64::try_from(now).unwrap_or(u64::MAX);
        let mut c = self.conn().await?;
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
        let mut c = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn unsafe_setting(&self) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        // INFO, not CONFIG GET: managed Redis (ElastiCache, Memorystore) disables CONFIG.
        let info: redis::Value = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        let mut text = String::new();
        collect_text(&info, &mut text);
        Ok(eviction_problem(&text))
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// Every string in a reply: one INFO text from a server, one per node from a cluster.
fn collect_text(v: &redis::Value, out: &mut String) {
    match v {
        redis::Value::BulkString(b) => out.push_str(&String::from_utf8_lossy(b)),
        redis::Value::SimpleString(s) | redis::Value::VerbatimString { text: s, .. } => {
            out.push_str(s);
        }
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().for_each(|i| collect_text(i, out));
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            collect_text(k, out);
            out.push('\n');
            collect_text(v, out);
        }),
        _ => {}
    }
    out.push('\n');
}

/// Replay caches, single-use codes and refresh families are keys with a TTL: any eviction
/// policy (`allkeys-*`, `volatile-*`) may drop one before it expires, and a dropped replay key
/// lets the same assertion sign in again. Only `noeviction` (writes fail, we fail closed) is safe.
fn eviction_problem(info: &str) -> Option<String> {
    let policy = info
        .lines()
        .filter_map(|l| l.trim().strip_prefix("maxmemory_policy:"))
        .find(|p| *p != "noeviction")?;
    Some(format!(
        "Redis maxmemory-policy is `{policy}`: under memory pressure Redis would evict replay-cache \
         and single-use keys, which reopens replays. Set `maxmemory-policy noeviction` (redis.conf, \
         `CONFIG SET maxmemory-policy noeviction`, or the parameter group of a managed Redis) and \
         give Redis enough memory"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_noeviction_is_safe() {
        assert_eq!(
            eviction_problem("# Memory\r\nmaxmemory_policy:noeviction\r\n"),
            None
        );
        let p = eviction_problem("# Memory\r\nmaxmemory_policy:volatile-lru\r\n").unwrap();
        assert!(
            p.contains("`volatile-lru`") && p.contains("noeviction"),
            "{p}"
        );
        // A cluster: one node evicting is enough to refuse.
        let both = "maxmemory_policy:noeviction\nmaxmemory_policy:allkeys-lfu\n";
        assert!(eviction_problem(both).is_some());
    }
}
