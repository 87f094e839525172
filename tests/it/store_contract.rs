//! One contract, two stores: every test runs against the memory store and a real
//! redis-server. Then the failure half of the contract: a Redis that goes away makes every
//! operation fail fast (never "not found"), and the store recovers by itself when it returns.

use crate::common;

use common::peers::Redis;
use rolegate::secret::Secret;
use rolegate::store::memory::MemoryStore;
use rolegate::store::redis::RedisStore;
use rolegate::store::{IndexEntry, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Keys unique per test run, so runs against one Redis never collide.
fn k(name: &str) -> String {
    format!("rolegate:test:{}:{name}", std::process::id())
}

async fn contract(store: Arc<dyn Store>) {
    // put / get / overwrite / delete
    store.put(&k("a"), b"1", ms(5_000)).await.unwrap();
    assert_eq!(
        store.get(&k("a")).await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    store.put(&k("a"), b"2", ms(5_000)).await.unwrap();
    assert_eq!(
        store.get(&k("a")).await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert!(store.delete(&k("a")).await.unwrap());
    assert!(!store.delete(&k("a")).await.unwrap());
    assert_eq!(store.get(&k("a")).await.unwrap(), None);

    // TTL expiry for every kind of entry
    store.put(&k("ttl"), b"x", ms(150)).await.unwrap();
    assert!(store.insert_once(&k("ttl-once"), ms(150)).await.unwrap());
    assert_eq!(store.incr(&k("ttl-n"), ms(150)).await.unwrap(), 1);
    tokio::time::sleep(ms(400)).await;
    assert_eq!(store.get(&k("ttl")).await.unwrap(), None, "expired value");
    assert_eq!(
        store.take(&k("ttl")).await.unwrap(),
        None,
        "expired value cannot be taken"
    );
    assert!(
        store.insert_once(&k("ttl-once"), ms(5_000)).await.unwrap(),
        "expired replay entry is free again"
    );
    assert_eq!(
        store.incr(&k("ttl-n"), ms(5_000)).await.unwrap(),
        1,
        "window restarted"
    );

    // take is single-use, and atomic under concurrency: exactly one of 32 racers wins
    store.put(&k("code"), b"secret", ms(5_000)).await.unwrap();
    let racers: Vec<_> = (0..32)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.take(&k("code")).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        if let Some(v) = r.await.unwrap() {
            assert_eq!(v, b"secret");
            won += 1;
        }
    }
    assert_eq!(
        won, 1,
        "take must hand a single-use value to exactly one caller"
    );

    // insert_once under concurrency: the replay cache admits exactly one
    let racers: Vec<_> = (0..32)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.insert_once(&k("jti"), ms(5_000)).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for r in racers {
        firsts += u32::from(r.await.unwrap());
    }
    assert_eq!(firsts, 1, "insert_once admits exactly one");

    // update is compare-and-set: 16 concurrent increments, none lost
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move {
                let f = |old: Option<&[u8]>| {
                    let n = old.map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()));
                    Some((n + 1).to_be_bytes().to_vec())
                };
                s.update(&k("cas"), ms(5_000), &f).await
            })
        })
        .collect();
    for r in racers {
        r.await.unwrap().unwrap();
    }
    let v = store.get(&k("cas")).await.unwrap().unwrap();
    assert_eq!(u32::from_be_bytes(v.as_slice().try_into().unwrap()), 16);
    // update returning None deletes
    store.update(&k("cas"), ms(5_000), &|_| None).await.unwrap();
    assert_eq!(store.get(&k("cas")).await.unwrap(), None);

    // incr counts within its window, and the window does not slide
    assert_eq!(store.incr(&k("rate"), ms(300)).await.unwrap(), 1);
    tokio::time::sleep(ms(200)).await;
    assert_eq!(store.incr(&k("rate"), ms(300)).await.unwrap(), 2);
    tokio::time::sleep(ms(250)).await;
    assert_eq!(
        store.incr(&k("rate"), ms(300)).await.unwrap(),
        1,
        "window began at the first increment"
    );

    indexed(store.as_ref()).await;

    // epoch is stable while the store keeps its memory
    let e1 = store.epoch().await.unwrap();
    let e2 = store.epoch().await.unwrap();
    assert_eq!(e1, e2);
    store.ping().await.unwrap();
}

/// Values with sorted indexes (the session inventory): written together, listed by score after
/// `now` soonest first, ended entries dropped, many values read at once. One hash tag, as on a
/// Redis Cluster every key of one write must share a slot.
async fn indexed(store: &dyn Store) {
    let tag = format!("rolegate:{{test-{}}}", std::process::id());
    let idx = |n: &str| format!("{tag}:idx:{n}");
    let val = |n: &str| format!("{tag}:val:{n}");
    let now = 1_000_000;
    let write = |member: &'static str, until: i64, indexes: Vec<String>| async move {
        let entry = IndexEntry {
            indexes: &indexes,
            member,
            until,
            now,
        };
        store
            .put_indexed(&val(member), member.as_bytes(), ms(5_000), &entry)
            .await
            .unwrap();
    };
    write("late", now + 300, vec![idx("all"), idx("u1")]).await;
    write("soon", now + 100, vec![idx("all"), idx("u2")]).await;
    write("ended", now - 1, vec![idx("all")]).await;
    assert_eq!(
        store.index_members(&idx("all"), now).await.unwrap(),
        ["soon", "late"],
        "by score, soonest first; what ended is not listed"
    );
    assert_eq!(
        store.index_members(&idx("u1"), now).await.unwrap(),
        ["late"]
    );
    assert_eq!(
        store.index_members(&idx("all"), now + 150).await.unwrap(),
        ["late"]
    );
    assert!(
        store
            .index_members(&idx("none"), now)
            .await
            .unwrap()
            .is_empty()
    );
    let got = store
        .get_many(&[val("late"), val("missing"), val("soon")])
        .await
        .unwrap();
    assert_eq!(got, [Some(b"late".to_vec()), None, Some(b"soon".to_vec())]);
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_store_honours_the_contract() {
    contract(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn redis_store_honours_the_contract() {
    let Some(redis) = Redis::start() else { return };
    let store = RedisStore::connect(&Secret::new(redis.url.clone()), None).unwrap();
    contract(Arc::new(store)).await;
}

/// A three-master Redis Cluster (real redis-server processes, `redis-cli --cluster create`):
/// keys spread over the slots of different nodes, and the contract — atomic take, insert_once
/// and compare-and-set under concurrency — holds as on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_honours_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let conf = dir.path().join(format!("nodes-{i}.conf"));
        let Some(r) = Redis::start_with(&[
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            conf.display().to_string(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.path().display().to_string(),
        ]) else {
            return;
        };
        nodes.push(r);
    }
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    for n in &nodes {
        loop {
            let info = std::process::Command::new("redis-cli")
                .args(["-p", &n.port.to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "cluster never became ok");
            tokio::time::sleep(ms(100)).await;
        }
    }
    let seeds: Vec<String> = addrs.iter().map(|a| format!("redis://{a}")).collect();
    let store = RedisStore::connect_cluster(&seeds).unwrap();
    contract(Arc::new(store)).await;
    // The keys really live on more than one node.
    let used = nodes
        .iter()
        .filter(|n| {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &n.port.to_string(), "dbsize"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim() != "0"
        })
        .count();
    assert!(used >= 2, "keys on {used} node(s) only");
}

#[tokio::test]
async fn redis_outage_fails_fast_and_recovers_without_a_restart() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let store = RedisStore::connect(&Secret::new(redis.url.clone()), None).unwrap();
    assert!(store.insert_once(&k("before"), ms(60_000)).await.unwrap());
    let epoch_before = store.epoch().await.unwrap();

    redis.stop();
    for op in ["ping", "insert_once", "take", "incr"] {
        let started = Instant::now();
        let r = match op {
            "ping" => store.ping().await.map(|_| ()),
            "insert_once" => store.insert_once(&k("during"), ms(1000)).await.map(|_| ()),
            "take" => store.take(&k("during")).await.map(|_| ()),
            _ => store.incr(&k("during"), ms(1000)).await.map(|_| ()),
        };
        assert!(
            matches!(r, Err(StoreError::Unavailable(_))),
            "{op} while Redis is down: {r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{op} took {:?}",
            started.elapsed()
        );
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.ping().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "store did not reconnect by itself"
        );
        tokio::time::sleep(ms(100)).await;
    }
    // Redis came back empty (no persistence): its epoch moved, which is how replay checks know
    // that anything issued before the restart can no longer be checked and must be refused.
    let epoch_after = store.epoch().await.unwrap();
    assert!(
        epoch_after > epoch_before,
        "a store that lost its memory reports a new epoch"
    );
    assert!(store.insert_once(&k("after"), ms(1000)).await.unwrap());
}

#[tokio::test]
async fn redis_store_refuses_a_bad_url_without_echoing_it() {
    let err = RedisStore::connect(&Secret::new("redis://:hunter2@[bad".into()), None).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn store_settings_that_cannot_work_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (store, want) in [
        ("backend = \"redis_cluster\"", "store.redis_url"),
        (
            "backend = \"redis_cluster\"\nredis_url = \"http://a:1,redis://b:2\"",
            "store.redis_url",
        ),
        (
            "backend = \"redis\"\nredis_url = \"redis://x/0\"\nsentinels = [\"s:26379\"]",
            "store.sentinel_master",
        ),
        (
            "backend = \"redis\"\nredis_url = \"redis://x/0\"\nsentinels = [\"nope\"]\nsentinel_master = \"m\"",
            "store.sentinels[0]",
        ),
    ] {
        let path = dir.path().join("rolegate.toml");
        std::fs::write(&path, format!("[store]\n{store}\n")).unwrap();
        let err = rolegate::config::Config::load_with_env(Some(&path), false, std::iter::empty())
            .unwrap_err();
        assert_eq!(err.path, want, "{store}: {err}");
    }
}
