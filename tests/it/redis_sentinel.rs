//! Redis Sentinel (`[store] sentinels`, `sentinel_master`): a master, a replica and one
//! sentinel (quorum 1), all real redis-server processes. The broker finds the master through
//! the sentinel, keeps working through a `SENTINEL FAILOVER` (503s at most while it runs), and
//! afterwards writes to the promoted replica — without a restart.

use crate::common;

use common::app::{TestApp, base_config, peers};
use common::forge;
use common::peers::Redis;
use serde_json::json;
use std::time::{Duration, Instant};

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_follows_a_sentinel_failover() {
    let Some(p) = peers() else { return };
    let Some(master) = Redis::start() else { return };
    let replica = Redis::start_with(&[
        "--replicaof".into(),
        "127.0.0.1".into(),
        master.port.to_string(),
        "--save".into(),
        String::new(),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "sentinel monitor rolegate 127.0.0.1 {} 1\nsentinel down-after-milliseconds rolegate 1000\nsentinel failover-timeout rolegate 5000\n",
            master.port
        ),
    )
    .unwrap();
    let sentinel = Redis::start_with(&[conf.display().to_string(), "--sentinel".into()]).unwrap();

    let toml = base_config(p, "").replacen(
        "[aws]",
        &format!(
            "[store]\nbackend = \"redis\"\nredis_url = \"redis://sentinel-named-master/0\"\nsentinels = [\"127.0.0.1:{}\"]\nsentinel_master = \"rolegate\"\n\n[aws]",
            sentinel.port
        ),
        1,
    );
    let app = TestApp::spawn(&toml).await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));
    let ok = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    assert!(
        redis_cli(master.port, &["dbsize"]).parse::<u64>().unwrap() > 0,
        "written to the master"
    );

    // Wait until the replica is in sync, then fail over.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis_cli(replica.port, &["info", "replication"]).contains("master_link_status:up") {
        assert!(Instant::now() < deadline, "replica never synced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        redis_cli(sentinel.port, &["sentinel", "failover", "rolegate"]),
        "OK"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !redis_cli(
        sentinel.port,
        &["sentinel", "get-master-addr-by-name", "rolegate"],
    )
    .contains(&replica.port.to_string())
    {
        assert!(
            Instant::now() < deadline,
            "sentinel never promoted the replica"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The broker follows within seconds; nothing it answers meanwhile is a false success.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app
            .credentials(&token, json!({"role": "prod-readonly"}))
            .await;
        match r.status().as_u16() {
            200 => break,
            503 => {}
            other => panic!("during failover: {other} {}", r.text().await.unwrap()),
        }
        assert!(
            Instant::now() < deadline,
            "the broker never reached the new master"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        redis_cli(replica.port, &["info", "replication"]).contains("role:master"),
        "the promoted replica is the master now"
    );
    // And a store write lands there: the readiness probe uses it.
    app.wait_ready(Duration::from_secs(5)).await;
}
