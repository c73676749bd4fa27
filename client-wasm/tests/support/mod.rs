//! Helpers for the browser tests: they use the package the way JavaScript does (method
//! names, option objects, promises, events), against the real server whose URL the test
//! command bakes in (`FASTPORT_TEST_URL`, see scripts/test-wasm.sh).

#![allow(dead_code)]
// The test command sets these; without it the first test says how to run them.
#![allow(clippy::option_env_unwrap)]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The server started for this run.
pub fn url() -> String {
    option_env!("FASTPORT_TEST_URL")
        .expect(
            "FASTPORT_TEST_URL is not set: run these tests with scripts/test-wasm.sh, which \
             starts a fastport-server and passes its URL",
        )
        .to_owned()
}

/// The `wss://` URL of the TLS server started for this run (its certificate comes from a
/// CA made for the run; Chromium accepts it by its key, see scripts/test-wasm.sh).
pub fn tls_url() -> String {
    option_env!("FASTPORT_TEST_TLS_URL")
        .expect("FASTPORT_TEST_TLS_URL is not set (scripts/test-wasm.sh sets it)")
        .to_owned()
}

/// The key the native side of the interop test uses.
pub fn interop_key() -> String {
    option_env!("FASTPORT_TEST_INTEROP_KEY")
        .expect("FASTPORT_TEST_INTEROP_KEY is not set (scripts/test-wasm.sh sets it)")
        .to_owned()
}

/// A plain object from pairs.
pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).expect("set");
    }
    o.into()
}

pub fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_str(o: &JsValue, key: &str) -> String {
    get(o, key).as_string().unwrap_or_default()
}

/// Calls `o.name(...args)`.
pub fn call(o: &JsValue, name: &str, args: &[JsValue]) -> JsValue {
    try_call(o, name, args).unwrap_or_else(|e| panic!("{name} threw {e:?}"))
}

/// Calls method `name` of `o`: what it returned, or what it threw.
pub fn try_call(o: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(o, name)
        .dyn_into()
        .unwrap_or_else(|_| panic!("no method {name}"));
    let array: Array = args.iter().collect();
    f.apply(o, &array)
}

/// Awaits a promise.
pub async fn settle(p: JsValue) -> Result<JsValue, JsValue> {
    let p: Promise = p.dyn_into().expect("a promise");
    JsFuture::from(p).await
}

/// Awaits a promise that must resolve.
pub async fn ok(p: JsValue, what: &str) -> JsValue {
    match settle(p).await {
        Ok(v) => v,
        Err(e) => panic!(
            "{what} failed: {} ({})",
            get_str(&e, "code"),
            get_str(&e, "message")
        ),
    }
}

/// Awaits a promise that must reject; returns the error's `code`.
pub async fn rejected(p: JsValue, what: &str) -> (String, String) {
    match settle(p).await {
        Ok(v) => panic!("{what} should have failed, resolved with {v:?}"),
        Err(e) => {
            assert_eq!(get_str(&e, "name"), "FastPortError", "{what}: {e:?}");
            (get_str(&e, "code"), get_str(&e, "message"))
        }
    }
}

pub async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .expect("window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .expect("setTimeout");
    });
    let _ = JsFuture::from(p).await;
}

/// Waits (up to 20 s) until `done` holds, checking every 20 ms.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        sleep(20).await;
    }
    panic!("timed out waiting for {what}");
}

/// Everything a listener got.
#[derive(Clone)]
pub struct Recorder {
    pub seen: Rc<RefCell<Vec<JsValue>>>,
    closure: Rc<Closure<dyn FnMut(JsValue)>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        let seen: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let sink = seen.clone();
        let closure = Rc::new(Closure::new(move |v: JsValue| sink.borrow_mut().push(v)));
        Recorder { seen, closure }
    }

    pub fn function(&self) -> JsValue {
        self.closure.as_ref().as_ref().clone()
    }

    pub fn len(&self) -> usize {
        self.seen.borrow().len()
    }

    pub fn all(&self) -> Vec<JsValue> {
        self.seen.borrow().clone()
    }

    /// Texts of recorded messages.
    pub fn texts(&self) -> Vec<String> {
        self.all()
            .iter()
            .map(|m| call(m, "text", &[]).as_string().unwrap_or_default())
            .collect()
    }
}

/// A unique name for this test's session.
pub fn unique(prefix: &str) -> String {
    let n = (js_sys::Math::random() * 1e9) as u64;
    format!("{prefix}-{n}")
}

/// Connects to `session` with `password` and these extra options.
pub async fn connect(session: &str, password: &str, extra: &[(&str, JsValue)]) -> JsValue {
    let mut pairs = vec![
        ("url", JsValue::from(url())),
        ("session", session.into()),
        ("password", password.into()),
    ];
    pairs.extend(extra.iter().cloned());
    ok(fastport_wasm::connect(obj(&pairs)).into(), "connect").await
}

/// A fresh session named after `prefix`, with password `pw` and secret `secret`, and the
/// admin client that created it.
pub async fn new_session(prefix: &str) -> (String, JsValue) {
    let session = unique(prefix);
    let admin = create_session(&session, "pw", "secret").await;
    (session, admin)
}

/// Creates a fresh session (the test server allows open creation) through a client of the
/// demo session, and returns that admin client.
pub async fn create_session(name: &str, password: &str, secret: &str) -> JsValue {
    let admin = connect("demo", "demo", &[]).await;
    let options = obj(&[("password", password.into()), ("secret", secret.into())]);
    ok(
        call(&admin, "createSession", &[name.into(), options]),
        "createSession",
    )
    .await;
    admin
}
