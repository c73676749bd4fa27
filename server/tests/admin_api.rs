//! The HTTP admin API on a server with an admin token: create, describe, configure,
//! suspend, resume and drop, with the effect on connected clients.

mod common;

use common::{assert_refused, Clients, Server};
use fastport_proto::codec::{Frame, Subscribe};

const TOKEN: &str = "admin-token-for-tests";

fn bearer(credential: &str) -> String {
    format!("Bearer {credential}")
}

async fn start() -> Server {
    common::start(&["--admin-token", TOKEN]).await
}

/// Creates session `name` (password `pw`, secret `sec`) and checks the 201.
async fn create(server: &Server, name: &str, config: &str) {
    let body = format!(r#"{{"name":"{name}","password":"pw","secret":"sec","config":{config}}}"#);
    let auth = bearer(TOKEN);
    let response = server
        .http(
            "POST",
            "/admin/sessions",
            &[("Authorization", &auth)],
            &body,
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
}

#[tokio::test]
async fn creating_a_session_needs_the_admin_token_when_one_is_configured() {
    let server = start().await;
    let body = r#"{"name":"team","password":"pw","secret":"sec"}"#;
    let missing = server.http("POST", "/admin/sessions", &[], body).await;
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(missing.json()["error"]["code"], "not_authorized");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let auth = bearer("wrong-token");
    let wrong = server
        .http("POST", "/admin/sessions", &[("Authorization", &auth)], body)
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let auth = bearer(TOKEN);
    let created = server
        .http("POST", "/admin/sessions", &[("Authorization", &auth)], body)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let json = created.json();
    assert_eq!(json["session"], "team");
    assert!(
        json["config"]["max_retries"].is_u64(),
        "every setting is stated: {json}"
    );
    let again = server
        .http("POST", "/admin/sessions", &[("Authorization", &auth)], body)
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["error"]["code"], "session_exists");
}

#[tokio::test]
async fn a_created_session_is_described_and_configured_with_its_secret() {
    let server = start().await;
    create(
        &server,
        "team",
        r#"{"max_retries": 2, "slow_consumer_policy": "disconnect"}"#,
    )
    .await;
    let auth = bearer("sec");
    let described = server
        .http(
            "GET",
            "/admin/sessions/team",
            &[("Authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(described.status, 200, "{}", described.body);
    let config = &described.json()["config"];
    assert_eq!(config["max_retries"], 2);
    assert_eq!(config["slow_consumer_policy"], "disconnect");

    let patch = r#"{"config": {"max_retries": 4, "retry_interval_ms": 500}}"#;
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let configured = server
        .http("PATCH", "/admin/sessions/team", &headers, patch)
        .await;
    assert_eq!(configured.status, 200, "{}", configured.body);
    let config = &configured.json()["config"];
    assert_eq!(
        (
            config["max_retries"].as_u64(),
            config["retry_interval_ms"].as_u64()
        ),
        (Some(4), Some(500))
    );

    let out_of_range = r#"{"config": {"max_pending": 0}}"#;
    let refused = server
        .http("PATCH", "/admin/sessions/team", &headers, out_of_range)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "invalid_config");
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_session_are_refused_alike_with_403() {
    let server = start().await;
    create(&server, "team", "{}").await;
    let auth = bearer("not-the-secret");
    let wrong = server
        .http(
            "GET",
            "/admin/sessions/team",
            &[("Authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(wrong.json()["error"]["code"], "not_authorized");
    let missing = server.http("DELETE", "/admin/sessions/team", &[], "").await;
    assert_eq!(missing.status, 401, "{}", missing.body);
    let unknown = server
        .http(
            "GET",
            "/admin/sessions/nobody",
            &[("Authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(unknown.status, 403, "{}", unknown.body);
    assert_eq!(unknown.json()["error"]["code"], "not_authorized");
}

#[tokio::test]
async fn suspend_closes_clients_with_4006_and_refuses_hellos_until_resume() {
    let server = start().await;
    create(&server, "team", "{}").await;
    let mut member = server.connect().await;
    member.join("team", "pw").await;

    let auth = bearer("sec");
    let headers = [("Authorization", auth.as_str())];
    let suspended = server
        .http("POST", "/admin/sessions/team/suspend", &headers, "")
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    assert_refused(&mut member, "session_suspended", 4006).await;

    let mut latecomer = server.connect().await;
    latecomer.hello("team", "pw").await;
    assert_refused(&mut latecomer, "session_suspended", 4006).await;

    let resumed = server
        .http("POST", "/admin/sessions/team/resume", &headers, "")
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let mut returning = server.connect().await;
    returning.join("team", "pw").await;
}

#[tokio::test]
async fn drop_closes_clients_with_4007_and_forgets_the_session() {
    let server = start().await;
    create(&server, "team", "{}").await;
    let mut member = server.connect().await;
    member.join("team", "pw").await;

    let auth = bearer("sec");
    let headers = [("Authorization", auth.as_str())];
    let dropped = server
        .http("DELETE", "/admin/sessions/team", &headers, "")
        .await;
    assert_eq!(dropped.status, 200, "{}", dropped.body);
    assert_refused(&mut member, "session_dropped", 4007).await;

    let gone = server
        .http("GET", "/admin/sessions/team", &headers, "")
        .await;
    assert_eq!(
        gone.status, 403,
        "a dropped session is refused like a wrong secret: {}",
        gone.body
    );
    let mut latecomer = server.connect().await;
    latecomer.hello("team", "pw").await;
    assert_refused(&mut latecomer, "bad_credentials", 4004).await;
}

#[tokio::test]
async fn malformed_requests_get_a_json_error_and_the_right_status() {
    let server = start().await;
    let auth = bearer(TOKEN);
    let headers = [("Authorization", auth.as_str())];
    let not_json = server
        .http("POST", "/admin/sessions", &headers, "{not json")
        .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json()["error"]["code"], "invalid_request");
    let typo = r#"{"name":"a","password":"p","secret":"s","config":{"max_retires":1}}"#;
    let unknown_field = server.http("POST", "/admin/sessions", &headers, typo).await;
    assert_eq!(unknown_field.status, 400);
    assert!(
        unknown_field.body.contains("max_retires"),
        "{}",
        unknown_field.body
    );
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let too_large = server
        .http("POST", "/admin/sessions", &headers, &huge)
        .await;
    assert_eq!(too_large.status, 413);
    let wrong_method = server.http("PUT", "/admin/sessions/a", &headers, "").await;
    assert_eq!(wrong_method.status, 405);
    let nowhere = server.http("GET", "/admin/elsewhere", &headers, "").await;
    assert_eq!(nowhere.status, 404);
}

#[tokio::test]
async fn rotation_replaces_password_and_secret_while_members_stay_connected() {
    let server = start().await;
    create(&server, "team", "{}").await;
    let mut member = server.connect().await;
    member.join("team", "pw").await;

    let old = bearer("sec");
    let body = r#"{"password":"pw-2","secret":"sec-2"}"#;
    let rotated = server
        .http(
            "POST",
            "/admin/sessions/team/rotate",
            &[("Authorization", &old)],
            body,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(rotated.json()["session"], "team");

    // The member connected with the old password keeps working.
    let subscribe = Subscribe {
        request_id: 7,
        presence: false,
        filter: "a/b".into(),
    };
    member.send(&Frame::Subscribe(subscribe)).await;
    match member.frame().await {
        Frame::SubAck(ack) => assert!(ack.code.is_ok(), "{ack:?}"),
        other => panic!("expected SubAck, got {other:?}"),
    }

    let mut old_password = server.connect().await;
    old_password.hello("team", "pw").await;
    assert_refused(&mut old_password, "bad_credentials", 4004).await;
    let mut new_password = server.connect().await;
    new_password.join("team", "pw-2").await;

    for (secret, status) in [("sec", 403), ("sec-2", 200)] {
        let auth = bearer(secret);
        let headers = [("Authorization", auth.as_str())];
        let described = server
            .http("GET", "/admin/sessions/team", &headers, "")
            .await;
        assert_eq!(described.status, status, "{secret}: {}", described.body);
    }
}

#[tokio::test]
async fn rotation_with_nothing_to_rotate_or_unknown_fields_is_a_400() {
    let server = start().await;
    create(&server, "team", "{}").await;
    let auth = bearer("sec");
    let headers = [("Authorization", auth.as_str())];
    let path = "/admin/sessions/team/rotate";
    let empty = server.http("POST", path, &headers, "{}").await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert_eq!(empty.json()["error"]["code"], "invalid_config");
    let unknown = server
        .http("POST", path, &headers, r#"{"passwd":"x"}"#)
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.json()["error"]["code"], "invalid_request");
    let get = server.http("GET", path, &headers, "").await;
    assert_eq!(get.status, 405, "{}", get.body);
    // Nothing changed.
    let mut member = server.connect().await;
    member.join("team", "pw").await;
}

#[tokio::test]
async fn a_session_admin_cannot_raise_a_setting_past_the_servers_session_limits() {
    let toml = "[session_limits]\nmax_cache_bytes = 1048576\nmax_pending = 2000\n\
                [session_defaults]\nmax_cache_bytes = 1048576\n";
    let server = common::start_with_config(toml, &["--admin-token", TOKEN]).await;
    create(&server, "team", "{}").await;
    let auth = bearer("sec");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let over = r#"{"config": {"max_cache_bytes": 16777216}}"#;
    let refused = server
        .http("PATCH", "/admin/sessions/team", &headers, over)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "invalid_config");
    assert_eq!(
        error["message"],
        "max_cache_bytes = 16777216 is above this server's limit of 1048576"
    );
    let within = r#"{"config": {"max_pending": 2000}}"#;
    let taken = server
        .http("PATCH", "/admin/sessions/team", &headers, within)
        .await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.json()["config"]["max_cache_bytes"], 1048576);
}
