//! The Redis engine on a Redis Cluster of three masters on loopback (started by the
//! harness): the server starts with the cluster's seeds and answers healthy, and the
//! engine's connection runs pipelines on the node of their keys' slot.

mod common;

use common::{launch, Clients};
use fastport_harness::RedisCluster;
use fastport_server::config::{NodeId, RedisConfig, RedisUrl};
use fastport_server::engine::RedisEngine;

#[tokio::test]
async fn a_server_started_with_the_seeds_of_a_cluster_is_healthy_and_says_so() {
    let cluster = RedisCluster::start(3).await;
    let seeds = cluster.urls();
    let toml = format!("[redis]\ncluster = [\"{}\"]\n", seeds[0]);
    let server = launch().config(&toml).start().await;
    let log = server.stderr_with("storage engine").await;
    assert!(log.contains("engine=\"redis\""), "{log}");
    assert!(log.contains(&format!("redis=\"{}\"", seeds[0])), "{log}");
    let health = server.http("GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.trim()), (200, "ok"));
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains("\nfastport_engine_up 1\n"), "{metrics}");
}

#[tokio::test]
async fn the_engine_runs_pipelines_on_every_slot_of_the_cluster() {
    let cluster = RedisCluster::start(3).await;
    let seeds: Vec<RedisUrl> = cluster
        .urls()
        .iter()
        .map(|u| RedisUrl::parse(u).expect("a valid seed"))
        .collect();
    let node = NodeId::new("cluster-test").expect("a valid id");
    let engine = RedisEngine::connect(&RedisConfig::Cluster(seeds), node)
        .await
        .expect("the cluster answers");
    // Sessions whose keys land on different masters: each pipeline stays in one slot.
    for session in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        let key = format!("fastport:{{{session}}}:test");
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&key)
            .arg(session)
            .ignore()
            .cmd("GET")
            .arg(&key);
        let (value,): (String,) = pipe
            .query_async(&mut engine.conn())
            .await
            .expect("the pipeline runs");
        assert_eq!(value, session);
    }
    let masters_with_keys = {
        let mut count = 0;
        for i in 0..3 {
            if cluster.node(i).cli(&["DBSIZE"]).await != "0" {
                count += 1;
            }
        }
        count
    };
    assert!(masters_with_keys >= 2, "the keys all went to one master");
    assert!(engine.health().is_up());
}

#[tokio::test]
async fn a_master_of_the_cluster_lost_makes_the_node_degraded_until_it_is_back() {
    let mut cluster = RedisCluster::start(3).await;
    let toml = format!("[redis]\ncluster = [\"{}\"]\n", cluster.urls()[0]);
    let server = launch().config(&toml).start().await;
    let health = server.http("GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200, "{}", health.body);

    cluster.node_mut(2).kill().await;
    let health = healthz_until(&server, 503).await;
    assert!(health.body.starts_with("degraded"), "{}", health.body);

    cluster.node_mut(2).restart().await;
    healthz_until(&server, 200).await;
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains("\nfastport_engine_up 1\n"), "{metrics}");
}

/// Asks `/healthz` until it answers `status`, within 30 s (the pinger looks once a second;
/// a restarted master rejoins its cluster first).
async fn healthz_until(server: &common::Server, status: u16) -> common::HttpResponse {
    let what = format!("/healthz to answer {status}");
    fastport_harness::within(std::time::Duration::from_secs(30), &what, async {
        loop {
            let response = server.http("GET", "/healthz", &[], "").await;
            if response.status == status {
                return response;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
}
