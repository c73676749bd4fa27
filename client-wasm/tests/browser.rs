#![cfg(target_arch = "wasm32")]
//! The SDK in a real browser (headless Chromium) against a real fastport-server.

mod support;

use support::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Suspends `session` (the server closes its connections) and returns the first
/// `reconnecting` state `states` recorded.
async fn suspend_until_reconnecting(admin: &JsValue, session: &str, states: &Recorder) -> JsValue {
    let args = [session.into(), "secret".into()];
    ok(call(admin, "suspendSession", &args), "suspend").await;
    let first = || {
        states
            .all()
            .into_iter()
            .find(|s| get_str(s, "state") == "reconnecting")
    };
    eventually("reconnecting", || first().is_some()).await;
    first().expect("a reconnecting state")
}

fn key() -> JsValue {
    fastport_wasm::generate_key().expect("key").into()
}

#[wasm_bindgen_test]
async fn two_clients_exchange_an_encrypted_message() {
    let (session, _) = new_session("wasm-e2e").await;
    let key = key();
    let alice = connect(
        &session,
        "pw",
        &[("key", key.clone()), ("clientId", "alice".into())],
    )
    .await;
    let bob = connect(&session, "pw", &[("key", key)]).await;

    let inbox = Recorder::new();
    ok(
        call(&bob, "subscribe", &["room/+".into(), inbox.function()]),
        "subscribe",
    )
    .await;
    let result = ok(
        call(&alice, "publish", &["room/1".into(), "hello bob".into()]),
        "publish",
    )
    .await;
    assert_eq!(get(&result, "qos").as_f64(), Some(1.0));

    eventually("bob's message", || inbox.len() == 1).await;
    let m = &inbox.all()[0];
    assert_eq!(inbox.texts(), vec!["hello bob"]);
    assert_eq!(get_str(m, "topic"), "room/1");
    assert_eq!(get_str(m, "publisher"), "alice");
    assert_eq!(get(m, "encrypted").as_bool(), Some(true));
    let payload: js_sys::Uint8Array = get(m, "payload").into();
    assert_eq!(payload.to_vec(), b"hello bob");
    // What the server relayed: sealed, longer than the text, and without it.
    let envelope = js_sys::Uint8Array::from(get(m, "envelope")).to_vec();
    assert!(envelope.len() > 9 + 32, "{} bytes", envelope.len());
    assert!(!envelope.windows(9).any(|w| w == b"hello bob"));
}

#[wasm_bindgen_test]
async fn two_clients_exchange_a_message_over_wss() {
    let url = tls_url();
    assert!(url.starts_with("wss://"), "{url}");
    let key = key();
    let client = |id: &str| {
        obj(&[
            ("url", url.clone().into()),
            ("session", "demo".into()),
            ("password", "demo".into()),
            ("key", key.clone()),
            ("clientId", unique(id).into()),
        ])
    };
    let alice = ok(
        fastport_wasm::connect(client("alice")).into(),
        "connect over wss",
    )
    .await;
    let bob = ok(
        fastport_wasm::connect(client("bob")).into(),
        "connect over wss",
    )
    .await;
    let topic = unique("tls");
    let inbox = Recorder::new();
    ok(
        call(&bob, "subscribe", &[topic.clone().into(), inbox.function()]),
        "subscribe",
    )
    .await;
    ok(
        call(&alice, "publish", &[topic.into(), "over TLS".into()]),
        "publish",
    )
    .await;
    eventually("the message over wss", || inbox.len() == 1).await;
    assert_eq!(inbox.texts(), vec!["over TLS"]);
    assert_eq!(get(&inbox.all()[0], "encrypted").as_bool(), Some(true));
}

#[wasm_bindgen_test]
async fn json_and_bytes_payloads_round_trip_and_a_receipt_follows() {
    let (session, _) = new_session("wasm-json").await;
    let key = key();
    let a = connect(&session, "pw", &[("key", key.clone())]).await;
    let b = connect(&session, "pw", &[("key", key)]).await;
    let inbox = Recorder::new();
    ok(
        call(&b, "subscribe", &["data".into(), inbox.function()]),
        "subscribe",
    )
    .await;
    let receipts = Recorder::new();
    call(&a, "on", &["receipt".into(), receipts.function()]);

    let value = js_sys::JSON::parse(r#"{"temp":21.5,"room":"kitchen"}"#).expect("json");
    let sent = ok(call(&a, "publish", &["data".into(), value]), "publish json").await;
    let bytes = js_sys::Uint8Array::from(&[0u8, 255, 7][..]);
    ok(
        call(&a, "publish", &["data".into(), bytes.into()]),
        "publish bytes",
    )
    .await;

    eventually("both messages", || inbox.len() == 2).await;
    let json = call(&inbox.all()[0], "json", &[]);
    assert_eq!(get(&json, "temp").as_f64(), Some(21.5));
    assert_eq!(get_str(&json, "room"), "kitchen");
    let raw: js_sys::Uint8Array = get(&inbox.all()[1], "payload").into();
    assert_eq!(raw.to_vec(), vec![0, 255, 7]);
    // Messages are plain objects with their own copies of the bytes.
    let first = &inbox.all()[0];
    let text = js_sys::Uint8Array::from(get(first, "payload")).to_vec();
    assert_eq!(text, br#"{"temp":21.5,"room":"kitchen"}"#);
    assert_eq!(get_str(first, "keyId"), "");
    assert_eq!(get(first, "qos").as_f64(), Some(1.0));
    assert!(get(first, "deliveryId").as_f64().is_some());
    let not_text = try_call(&inbox.all()[1], "text", &[]).expect_err("0xff is not UTF-8");
    assert_eq!(get_str(&not_text, "code"), "not_text");
    assert_eq!(get_str(&not_text, "name"), "FastPortError");

    eventually("receipts", || receipts.len() == 2).await;
    let first = &receipts.all()[0];
    assert_eq!(get(first, "id").as_f64(), get(&sent, "id").as_f64());
    assert_eq!(get_str(first, "status"), "delivered");
    assert_eq!(get(first, "delivered").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
async fn a_wrong_password_rejects_with_bad_credentials() {
    let options = obj(&[
        ("url", url().into()),
        ("session", "demo".into()),
        ("password", "not-the-password".into()),
    ]);
    let (code, message) = rejected(fastport_wasm::connect(options).into(), "connect").await;
    assert_eq!(code, "bad_credentials", "{message}");
}

#[wasm_bindgen_test]
async fn an_unknown_session_rejects_like_a_wrong_password() {
    let options = obj(&[
        ("url", url().into()),
        ("session", unique("nobody-made-this").into()),
        ("password", "pw".into()),
    ]);
    let (code, message) = rejected(fastport_wasm::connect(options).into(), "connect").await;
    assert_eq!(code, "bad_credentials", "{message}");
}

#[wasm_bindgen_test]
async fn an_unreachable_server_rejects_with_unreachable() {
    let options = obj(&[
        ("url", "ws://127.0.0.1:9/ws".into()),
        ("session", "demo".into()),
        ("password", "demo".into()),
    ]);
    let (code, message) = rejected(fastport_wasm::connect(options).into(), "connect").await;
    assert_eq!(code, "unreachable", "{message}");
    assert!(message.contains("ws://127.0.0.1:9/ws"), "{message}");
}

#[wasm_bindgen_test]
async fn with_several_urls_the_client_skips_one_that_is_down() {
    let (session, _) = new_session("wasm-failover").await;
    let urls = js_sys::Array::of2(&"ws://127.0.0.1:9/ws".into(), &url().into());
    let client = connect(&session, "pw", &[("url", urls.into()), ("key", key())]).await;
    assert_eq!(get_str(&get(&client, "state"), "state"), "connected");
    let inbox = Recorder::new();
    ok(
        call(&client, "subscribe", &["a".into(), inbox.function()]),
        "subscribe",
    )
    .await;
    ok(
        call(
            &client,
            "publish",
            &["a".into(), "over the second url".into()],
        ),
        "publish",
    )
    .await;
    eventually("the message", || inbox.len() == 1).await;
    let empty = js_sys::Array::new();
    let options = obj(&[
        ("url", empty.into()),
        ("session", session.as_str().into()),
        ("password", "pw".into()),
    ]);
    let (code, message) = rejected(fastport_wasm::connect(options).into(), "connect").await;
    assert_eq!(code, "invalid_options", "{message}");
}

#[wasm_bindgen_test]
async fn bad_options_are_named() {
    let typo = obj(&[
        ("url", url().into()),
        ("session", "demo".into()),
        ("password", "demo".into()),
        ("clientID", "x".into()),
    ]);
    let (code, message) = rejected(fastport_wasm::connect(typo).into(), "connect").await;
    assert_eq!(code, "invalid_options");
    assert!(message.contains("clientID"), "{message}");

    let bad_key = obj(&[
        ("url", url().into()),
        ("session", "demo".into()),
        ("password", "demo".into()),
        ("key", "c2hvcnQ=".into()),
    ]);
    let (code, _) = rejected(fastport_wasm::connect(bad_key).into(), "connect").await;
    assert_eq!(code, "invalid_key");

    let client = connect("demo", "demo", &[("key", key())]).await;
    let (code, _) = rejected(
        call(&client, "publish", &["a/+".into(), "x".into()]),
        "publish",
    )
    .await;
    assert_eq!(code, "invalid_topic");
    let (code, _) = rejected(call(&client, "subscribe", &["a/#/b".into()]), "subscribe").await;
    assert_eq!(code, "invalid_filter");
    let plain = connect("demo", "demo", &[]).await;
    let (code, _) = rejected(
        call(&plain, "publish", &["a".into(), "x".into()]),
        "publish",
    )
    .await;
    assert_eq!(code, "no_key");
}

#[wasm_bindgen_test]
async fn session_settings_are_changed_and_read_back_by_their_documented_names() {
    let (session, admin) = new_session("wasm-settings").await;
    let configure = |settings: JsValue| {
        call(
            &admin,
            "configureSession",
            &[session.as_str().into(), "secret".into(), settings],
        )
    };
    let settings = obj(&[
        ("maxRetries", 7.into()),
        ("retryIntervalMs", 500.into()),
        ("slowConsumerPolicy", "disconnect".into()),
    ]);
    let answer = ok(configure(settings), "configureSession").await;
    assert_eq!(get(&answer, "maxRetries").as_f64(), Some(7.0));
    assert_eq!(get(&answer, "retryIntervalMs").as_f64(), Some(500.0));
    assert_eq!(get_str(&answer, "slowConsumerPolicy"), "disconnect");
    assert_eq!(get(&answer, "expiryMs").as_f64(), Some(60_000.0), "default");

    let settings = obj(&[("slowConsumerPolicy", "drop_oldest".into())]);
    let answer = ok(configure(settings), "configureSession").await;
    assert_eq!(get_str(&answer, "slowConsumerPolicy"), "drop_oldest");
    assert_eq!(get(&answer, "maxRetries").as_f64(), Some(7.0), "unchanged");

    let settings = obj(&[("slowConsumerPolicy", "drop-oldest".into())]);
    let (code, message) = rejected(configure(settings), "a misspelt policy").await;
    assert_eq!(code, "invalid_options");
    assert!(message.contains("slowConsumerPolicy"), "{message}");
    let settings = obj(&[("maxPending", 0.into())]);
    let (code, message) = rejected(configure(settings), "max_pending 0").await;
    assert_eq!(code, "invalid_config");
    assert!(message.contains("max_pending"), "{message}");
}

#[wasm_bindgen_test]
async fn without_the_key_a_message_is_reported_not_delivered() {
    let (session, _) = new_session("wasm-nokey").await;
    let sender = connect(&session, "pw", &[("key", key())]).await;
    let other = connect(&session, "pw", &[("key", key())]).await;
    let inbox = Recorder::new();
    let rejected_events = Recorder::new();
    call(
        &other,
        "on",
        &["deliveryRejected".into(), rejected_events.function()],
    );
    ok(
        call(&other, "subscribe", &["secret".into(), inbox.function()]),
        "subscribe",
    )
    .await;
    ok(
        call(
            &sender,
            "publish",
            &["secret".into(), "for key holders".into()],
        ),
        "publish",
    )
    .await;
    eventually("the rejection", || rejected_events.len() == 1).await;
    assert_eq!(inbox.len(), 0);
    let e = &rejected_events.all()[0];
    assert_eq!(get_str(e, "topic"), "secret");
    assert_eq!(get_str(e, "code"), "cannot_open");
    assert!(js_sys::Uint8Array::from(get(e, "envelope")).length() > 32);
}

/// The server closes every connection of a suspended session: the client waits, comes
/// back when the session is resumed, subscribes again by itself, and a publish made while
/// it was away is sent then.
#[wasm_bindgen_test]
async fn after_the_server_closes_the_socket_the_client_reconnects_resubscribes_and_sends() {
    let (session, admin) = new_session("wasm-reconnect").await;
    let key = key();
    let backoff = obj(&[("initialMs", 50.into()), ("maxMs", 200.into())]);
    let client = connect(
        &session,
        "pw",
        &[("key", key.clone()), ("backoff", backoff.clone())],
    )
    .await;
    let states = Recorder::new();
    let restored = Recorder::new();
    call(&client, "on", &["state".into(), states.function()]);
    call(&client, "on", &["restored".into(), restored.function()]);
    let inbox = Recorder::new();
    ok(
        call(&client, "subscribe", &["news".into(), inbox.function()]),
        "subscribe",
    )
    .await;

    let reconnecting = suspend_until_reconnecting(&admin, &session, &states).await;
    assert_eq!(
        get_str(&get(&reconnecting, "error"), "code"),
        "session_suspended"
    );
    // Written while the session is suspended: held, and sent after the reconnect.
    let held = call(&client, "publish", &["news".into(), "while away".into()]);

    ok(
        call(
            &admin,
            "resumeSession",
            &[session.clone().into(), "secret".into()],
        ),
        "resume",
    )
    .await;
    ok(held, "the held publish").await;
    eventually("restored", || restored.len() == 1).await;
    assert_eq!(get(&restored.all()[0], "subscriptions").as_f64(), Some(1.0));
    eventually("the message sent while away", || inbox.len() == 1).await;
    assert_eq!(inbox.texts(), vec!["while away"]);

    // And the re-subscribed filter keeps working for others' messages.
    let other = connect(&session, "pw", &[("key", key)]).await;
    ok(
        call(&other, "publish", &["news".into(), "after".into()]),
        "publish",
    )
    .await;
    eventually("the next message", || inbox.len() == 2).await;
    assert_eq!(get_str(&get(&client, "state"), "state"), "connected");
}

#[wasm_bindgen_test]
async fn presence_reports_who_is_in_a_room() {
    let (session, _) = new_session("wasm-presence").await;
    let presence = Recorder::new();
    let ann = connect(
        &session,
        "pw",
        &[("displayName", "Ann".into()), ("key", key())],
    )
    .await;
    call(&ann, "on", &["presence".into(), presence.function()]);
    let options = obj(&[("presence", true.into())]);
    ok(
        call(
            &ann,
            "subscribe",
            &["chat/room".into(), JsValue::UNDEFINED, options.clone()],
        ),
        "sub",
    )
    .await;
    let ben = connect(
        &session,
        "pw",
        &[("displayName", "Ben".into()), ("key", key())],
    )
    .await;
    ok(
        call(
            &ben,
            "subscribe",
            &["chat/room".into(), JsValue::UNDEFINED, options],
        ),
        "sub",
    )
    .await;
    eventually("Ben's join", || {
        presence.all().iter().any(|p| get_str(p, "kind") == "join")
    })
    .await;
    ok(call(&ben, "close", &[]), "close").await;
    eventually("Ben's leave", || {
        presence.all().iter().any(|p| get_str(p, "kind") == "leave")
    })
    .await;
    let leave = presence
        .all()
        .into_iter()
        .find(|p| get_str(p, "kind") == "leave")
        .expect("leave");
    let members: js_sys::Array = get(&leave, "members").into();
    assert_eq!(get_str(&members.get(0), "displayName"), "Ben");
}

/// A message sealed here is opened by the native `fastport` tool, which seals what it
/// prints and publishes it back (scripts/test-wasm.sh runs
/// `fastport sub interop/ping | fastport pub interop/pong --lines`): both directions.
#[wasm_bindgen_test]
async fn a_message_sealed_in_the_browser_opens_natively_and_the_other_way_round() {
    let key: JsValue = interop_key().into();
    let client = connect("demo", "demo", &[("key", key)]).await;
    let inbox = Recorder::new();
    ok(
        call(
            &client,
            "subscribe",
            &["interop/pong".into(), inbox.function()],
        ),
        "subscribe",
    )
    .await;
    let nonce = unique("from-the-browser");
    // The native subscriber may still be starting: publish until the echo comes back.
    for _ in 0..50 {
        ok(
            call(
                &client,
                "publish",
                &["interop/ping".into(), nonce.clone().into()],
            ),
            "publish",
        )
        .await;
        for _ in 0..10 {
            if inbox.len() > 0 {
                break;
            }
            sleep(20).await;
        }
        if inbox.len() > 0 {
            break;
        }
    }
    let echoed = inbox.texts();
    assert!(!echoed.is_empty(), "no echo from the native client");
    assert_eq!(echoed[0], format!("interop/ping {nonce}"));
    assert_eq!(get(&inbox.all()[0], "encrypted").as_bool(), Some(true));
}

/// The browser's `online` event ends a backoff wait at once: with a minute's backoff, the
/// client is back within the test's time only because of the event.
#[wasm_bindgen_test]
async fn the_online_event_reconnects_without_waiting_for_the_backoff() {
    let (session, admin) = new_session("wasm-online").await;
    let backoff = obj(&[
        ("initialMs", 60_000.into()),
        ("maxMs", 60_000.into()),
        ("jitter", 0.into()),
    ]);
    let client = connect(&session, "pw", &[("key", key()), ("backoff", backoff)]).await;
    let states = Recorder::new();
    call(&client, "on", &["state".into(), states.function()]);
    let waiting = suspend_until_reconnecting(&admin, &session, &states).await;
    assert!(
        get(&waiting, "inMs").as_f64().unwrap_or(0.0) > 50_000.0,
        "{waiting:?}"
    );
    ok(
        call(
            &admin,
            "resumeSession",
            &[session.clone().into(), "secret".into()],
        ),
        "resume",
    )
    .await;

    let window = web_sys::window().expect("window");
    let online = web_sys::Event::new("online").expect("event");
    window.dispatch_event(&online).expect("dispatch");
    eventually("connected again", || {
        get_str(&get(&client, "state"), "state") == "connected"
    })
    .await;
}

/// `deriveKey` runs in WebCrypto here (127.0.0.1 is a secure context) and must give the
/// key the core derives, which the native client derives too.
#[wasm_bindgen_test]
async fn derive_key_in_webcrypto_matches_the_core() {
    let web = ok(
        fastport_wasm::derive_key("correct horse battery", "demo/vault", Some(10_000)).into(),
        "deriveKey",
    )
    .await;
    let core = fastport_client_core::crypto::Key::derive_from_passphrase(
        "correct horse battery",
        "demo/vault",
        10_000,
    )
    .expect("derive");
    assert_eq!(web.as_string(), Some(core.to_base64()));
    let here = ok(
        fastport_wasm::derive_key_here("correct horse battery", "demo/vault", 10_000).into(),
        "deriveKeyHere",
    )
    .await;
    assert_eq!(here.as_string(), Some(core.to_base64()));
    let (code, _) = rejected(
        fastport_wasm::derive_key("", "demo/vault", None).into(),
        "empty",
    )
    .await;
    assert_eq!(code, "invalid_key");
}

/// `on` checks the event and the listener; a listener that throws does not keep the
/// others from their events; `off` removes just that listener.
#[wasm_bindgen_test]
async fn listeners_are_checked_and_isolated_from_each_other() {
    let (session, _) = new_session("wasm-listeners").await;
    let client = connect(&session, "pw", &[("key", key())]).await;
    let try_on =
        |event: &str, listener: JsValue| try_call(&client, "on", &[event.into(), listener]);
    let unknown = try_on("mesage", Recorder::new().function()).expect_err("a misspelt event");
    assert_eq!(get_str(&unknown, "code"), "invalid_options");
    assert!(get_str(&unknown, "message").contains("mesage"));
    let not_a_function = try_on("message", 42.into()).expect_err("a number as listener");
    assert_eq!(get_str(&not_a_function, "code"), "invalid_options");

    let thrower = js_sys::Function::new_no_args("throw new Error('a listener failed')");
    call(&client, "on", &["message".into(), thrower.into()]);
    let (first, second) = (Recorder::new(), Recorder::new());
    call(&client, "on", &["message".into(), first.function()]);
    call(&client, "on", &["message".into(), second.function()]);
    ok(call(&client, "subscribe", &["t".into()]), "subscribe").await;
    ok(
        call(&client, "publish", &["t".into(), "one".into()]),
        "publish",
    )
    .await;
    eventually("both listeners", || first.len() == 1 && second.len() == 1).await;

    call(&client, "off", &["message".into(), first.function()]);
    ok(
        call(&client, "publish", &["t".into(), "two".into()]),
        "publish",
    )
    .await;
    eventually("the second message", || second.len() == 2).await;
    assert_eq!(first.len(), 1, "removed with off");
    assert_eq!(second.texts(), vec!["one", "two"]);
}

#[wasm_bindgen_test]
async fn a_client_id_is_taken_up_again_only_with_its_resume_token() {
    let (session, _admin) = new_session("identity").await;
    let id = unique("tab");
    let first = connect(
        &session,
        "pw",
        &[("clientId", id.as_str().into()), ("resume", true.into())],
    )
    .await;
    let token = get_str(&first, "resumeToken");
    assert_eq!(token.len(), 32, "128 bits in hex: {token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");

    // Another page with the same client id but without the token is refused, and the first
    // one keeps its connection.
    let options = obj(&[
        ("url", url().into()),
        ("session", session.as_str().into()),
        ("password", "pw".into()),
        ("clientId", id.as_str().into()),
        ("resume", true.into()),
        ("resumeToken", "0".repeat(32).into()),
    ]);
    let (code, message) = rejected(fastport_wasm::connect(options).into(), "connect").await;
    assert_eq!(code, "client_id_in_use", "{message}");
    assert_eq!(get_str(&get(&first, "state"), "state"), "connected");

    // The page's next load passes the kept token back and resumes.
    ok(call(&first, "close", &[]), "close").await;
    let again = connect(
        &session,
        "pw",
        &[
            ("clientId", id.as_str().into()),
            ("resume", true.into()),
            ("resumeToken", token.as_str().into()),
        ],
    )
    .await;
    let state = get(&again, "state");
    assert_eq!(get_str(&state, "state"), "connected");
    assert_eq!(get(&state, "sessionPresent").as_bool(), Some(true));
    assert_eq!(
        get_str(&again, "resumeToken"),
        token,
        "a resumed state keeps its token"
    );
}
