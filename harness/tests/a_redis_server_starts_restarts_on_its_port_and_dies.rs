//! The harness's `Redis`: a real redis-server that answers, keeps its port and (with
//! appendonly) its data across a restart, and is gone once killed.

use fastport_harness::Redis;

#[tokio::test]
async fn a_redis_server_answers_keeps_its_port_and_data_across_a_restart_and_dies_when_killed() {
    let mut redis = Redis::start_appendonly().await;
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}/0"));
    assert_eq!(redis.cli(&["PING"]).await, "PONG");
    assert_eq!(redis.cli(&["SET", "fastport:test", "kept"]).await, "OK");

    redis.kill().await;
    assert!(!redis.is_running());
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(
        refused.is_err(),
        "a killed redis-server still accepts connections"
    );

    redis.restart().await;
    assert_eq!(redis.port(), port);
    assert_eq!(redis.cli(&["GET", "fastport:test"]).await, "kept");

    redis.stop().await;
    redis.restart().await;
    assert_eq!(redis.cli(&["GET", "fastport:test"]).await, "kept");
}

#[tokio::test]
async fn by_default_a_test_redis_keeps_nothing_on_disk() {
    let mut redis = Redis::start().await;
    assert_eq!(
        redis.cli(&["CONFIG", "GET", "appendonly"]).await,
        "appendonly\nno"
    );
    assert_eq!(redis.cli(&["CONFIG", "GET", "save"]).await, "save\n");
    assert_eq!(redis.cli(&["SET", "fastport:test", "gone"]).await, "OK");
    redis.kill().await;
    redis.restart().await;
    assert_eq!(redis.cli(&["EXISTS", "fastport:test"]).await, "0");
}

#[tokio::test]
async fn a_three_master_cluster_covers_every_slot_and_redirects_keys() {
    let cluster = fastport_harness::RedisCluster::start(3).await;
    assert_eq!(cluster.urls().len(), 3);
    let info = cluster.node(1).cli(&["CLUSTER", "INFO"]).await;
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
    assert!(info.contains("cluster_known_nodes:3"), "{info}");
    for key in ["a", "b", "c", "d"] {
        assert_eq!(cluster.node(0).cli(&["-c", "SET", key, key]).await, "OK");
        assert_eq!(cluster.node(2).cli(&["-c", "GET", key]).await, key);
    }
}
