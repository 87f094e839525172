//! A [`Store`] decorator that times every operation
//! (`rolegate_store_duration_seconds{backend,op}`) and counts failures
//! (`rolegate_store_errors_total{backend}`), so a slow or flapping Redis shows on a dashboard
//! before it shows as 503s.

use super::{IndexEntry, Store, StoreError, UpdateFn};
use crate::metrics::Metrics;
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub(crate) struct Metered {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub(crate) fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Metered {
        Metered { inner, metrics }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        f: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let r = f.await;
        let backend = self.inner.backend();
        self.metrics
            .store_duration
            .with_label_values(&[backend, op])
            .observe(started.elapsed().as_secs_f64());
        if r.is_err() {
            self.metrics
                .store_errors
                .with_label_values(&[backend])
                .inc();
        }
        r
    }
}

#[async_trait]
impl Store for Metered {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.timed("put", self.inner.put(key, value, ttl)).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed("get", self.inner.get(key)).await
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed("take", self.inner.take(key)).await
    }
    async fn insert_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.timed("insert_once", self.inner.insert_once(key, ttl))
            .await
    }
    async fn update(
        &self,
        key: &str,
        ttl: Duration,
        f: UpdateFn<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed("update", self.inner.update(key, ttl, f)).await
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.timed("incr", self.inner.incr(key, ttl)).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.timed("delete", self.inner.delete(key)).await
    }

    async fn put_indexed(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        entry: &IndexEntry<'_>,
    ) -> Result<(), StoreError> {
        self.timed(
            "put_indexed",
            self.inner.put_indexed(key, value, ttl, entry),
        )
        .await
    }

    async fn index_members(&self, index: &str, now: i64) -> Result<Vec<String>, StoreError> {
        self.timed("index_members", self.inner.index_members(index, now))
            .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.timed("get_many", self.inner.get_many(keys)).await
    }
    async fn epoch(&self) -> Result<SystemTime, StoreError> {
        self.timed("epoch", self.inner.epoch()).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }
    async fn unsafe_setting(&self) -> Result<Option<String>, StoreError> {
        self.timed("config", self.inner.unsafe_setting()).await
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
