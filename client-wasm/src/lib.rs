//! fastPort in the browser: the npm package `fastport-wasm`.
//!
//! A thin wasm-bindgen driver around `fastport-client-core` (the same state machine,
//! codec and end-to-end encryption as the native client): one `WebSocket`, one timer,
//! promises for every command and listeners for events.
//!
//! ```js
//! import init, { connect, generateKey } from "fastport-wasm";
//! await init();
//! const key = generateKey(); // share it with the other clients, never with the server
//! const client = await connect({ url: "ws://127.0.0.1:8080/ws", session: "demo",
//!                                password: "demo", key });
//! await client.subscribe("chat/+", (m) => console.log(m.topic, m.text()));
//! await client.publish("chat/lobby", "hello");
//! ```

mod driver;
mod error;
mod events;
mod host;
mod js;
mod message;
mod options;
mod random;
mod webcrypto;

use fastport_client_core::codec::{AdminOp, Qos, SessionConfig, SlowConsumerPolicy};
use fastport_client_core::crypto::{Key, PBKDF2_DEFAULT_ITERATIONS};
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Client as Core, PublishOptions};
use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use driver::{pump, Driver, Shared};
use error::Failure;
use events::SETTINGS;
use host::{rejected, Deferred};
use js::Reader;

/// Talc instead of the default dlmalloc: 2 KB smaller gzipped
/// (docs/BENCHMARKS.md, "Browser SDK size").
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("types.d.ts");

/// Connects to a fastPort server and resolves once the session welcomed the client.
///
/// Rejects with a `FastPortError`: `invalid_options` or `invalid_key` for bad options,
/// the server's code (`bad_credentials`, `unknown_session`, ...) when it refuses, and
/// `unreachable` when the first attempt cannot reach the server. After the first
/// connection the client reconnects and re-subscribes by itself.
#[wasm_bindgen(unchecked_return_type = "Promise<Client>")]
pub fn connect(
    #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
) -> Promise {
    let settings = match options::parse(&options, random_seed()) {
        Ok(settings) => settings,
        Err(failure) => return rejected(failure),
    };
    let core = Core::new(settings.config, host::now());
    let (_shared, first) = Driver::start(core, settings.reconnect_on_network_change);
    first
}

/// A new random 256-bit key, base64-encoded, for `ConnectOptions.key`.
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key() -> Result<String, JsValue> {
    Key::generate()
        .map(|k| k.to_base64())
        .map_err(|e| Failure::from(e).to_js())
}

/// Derives a key from a passphrase with PBKDF2-HMAC-SHA256 (600,000 iterations unless
/// `iterations` says otherwise; everyone must use the same). `context` separates keys of
/// different places: fastPort uses `session/room`. Resolves with the key in base64.
///
/// Runs in the browser's WebCrypto, off the page's thread, where the page has it (secure
/// contexts: https and localhost); elsewhere in WebAssembly, which blocks the page for
/// about a second. Both give the same key as the native client.
#[wasm_bindgen(js_name = deriveKey, unchecked_return_type = "Promise<string>")]
pub fn derive_key(passphrase: &str, context: &str, iterations: Option<u32>) -> Promise {
    let iterations = iterations.unwrap_or(PBKDF2_DEFAULT_ITERATIONS);
    if let Err(e) = Key::check_passphrase(passphrase, iterations) {
        return rejected(Failure::from(e));
    }
    if let Some(promise) = webcrypto::pbkdf2(passphrase, &Key::passphrase_salt(context), iterations)
    {
        return promise;
    }
    derive_key_here(passphrase, context, iterations)
}

/// `deriveKey` in WebAssembly (what runs without WebCrypto); for Rust callers and tests.
pub fn derive_key_here(passphrase: &str, context: &str, iterations: u32) -> Promise {
    match Key::derive_from_passphrase(passphrase, context, iterations) {
        Ok(key) => Promise::resolve(&JsValue::from(key.to_base64())),
        Err(e) => rejected(Failure::from(e)),
    }
}

/// The public fingerprint of a base64 key: 16 hex digits members compare to check they
/// hold the same key. Safe to show.
#[wasm_bindgen(js_name = keyFingerprint)]
pub fn key_fingerprint(key: &str) -> Result<String, JsValue> {
    Key::from_base64(key)
        .map(|k| k.fingerprint())
        .map_err(|e| Failure::from(e).to_js())
}

/// Measures how fast this browser seals and opens `size`-byte payloads (AES-256-CBC +
/// HMAC-SHA256, as `publish` and delivery do), `iterations` times each. Resolves nothing:
/// returns `{ sealMBps, openMBps }` at once (it blocks the thread while it runs).
#[wasm_bindgen(
    js_name = measureCrypto,
    unchecked_return_type = "{ sealMBps: number, openMBps: number }"
)]
pub fn measure_crypto(size: u32, iterations: u32) -> Result<JsValue, JsValue> {
    use fastport_client_core::crypto::{open, seal, KeyId, Keyring};
    let fail = |e: &dyn core::fmt::Display| Failure::new("crypto", e.to_string()).to_js();
    let key = Key::generate().map_err(|e| fail(&e))?;
    let ring = Keyring::new(KeyId::default(), key);
    let plaintext = vec![0x5a_u8; size as usize];
    let iterations = iterations.max(1);
    let started = host::now();
    let mut envelope = Vec::new();
    for _ in 0..iterations {
        envelope = seal(&ring, "bench", "bench/crypto", &plaintext).map_err(|e| fail(&e))?;
    }
    let sealed = host::now();
    for _ in 0..iterations {
        let opened = open(&ring, "bench", "bench/crypto", &envelope).map_err(|e| fail(&e))?;
        if opened.plaintext.len() != plaintext.len() {
            return Err(fail(&"opened the wrong length"));
        }
    }
    let opened = host::now();
    let megabytes = f64::from(size) * f64::from(iterations) / 1e6;
    let rate = |d: core::time::Duration| megabytes / d.as_secs_f64().max(1e-9);
    Ok(js::object(&[
        (
            "sealMBps",
            rate(sealed.saturating_duration_since(started)).into(),
        ),
        (
            "openMBps",
            rate(opened.saturating_duration_since(sealed)).into(),
        ),
    ]))
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    // The core only uses the seed for jitter and a random client id.
    let _ = getrandom::getrandom(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// A connected client. Create it with `connect`.
#[wasm_bindgen]
pub struct Client {
    shared: Shared,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn from_shared(shared: Shared) -> Client {
        Client { shared }
    }

    /// Runs a command on the core and pumps; the command's mistakes come back rejected.
    fn command(&self, f: impl FnOnce(&mut Driver) -> Result<Promise, Failure>) -> Promise {
        let result = f(&mut self.shared.borrow_mut());
        pump(&self.shared);
        result.unwrap_or_else(rejected)
    }

    fn admin(&self, session: &str, credential: &str, op: AdminOp) -> Promise {
        self.command(|d| {
            let (promise, deferred) = Deferred::start();
            d.app()
                .admin(host::now(), session, credential, op, deferred);
            Ok(promise)
        })
    }
}

/// `SessionSettings` from JavaScript; absent fields stay unstated.
fn session_config(value: &JsValue, what: &str) -> Result<SessionConfig, Failure> {
    let mut config = SessionConfig::default();
    if value.is_undefined() || value.is_null() {
        return Ok(config);
    }
    let o = Reader::new(value, what, &SETTINGS)?;
    let [retry, retries, expiry, size, connections, subscriptions, pending, policy, cache] =
        SETTINGS;
    config.retry_interval_ms = o.uint(retry)?.map(u64::from);
    config.max_retries = o.uint(retries)?;
    config.expiry_ms = o.uint(expiry)?.map(u64::from);
    config.max_message_size = o.uint(size)?;
    config.max_connections = o.uint(connections)?;
    config.max_subscriptions = o.uint(subscriptions)?;
    config.max_pending = o.uint(pending)?;
    config.max_cache_bytes = o.uint(cache)?;
    // Spelled out rather than `SlowConsumerPolicy::from_name`: 40-60 bytes smaller gzipped.
    config.slow_consumer_policy = match o.string(policy)?.as_deref() {
        None => None,
        Some("disconnect") => Some(SlowConsumerPolicy::Disconnect),
        Some("drop_oldest") => Some(SlowConsumerPolicy::DropOldest),
        Some(other) => {
            return Err(Failure::options(format!(
                "{what}: slowConsumerPolicy `{other}`: expected \"disconnect\" or \"drop_oldest\""
            )))
        }
    };
    Ok(config)
}

/// A topic filter, or `invalid_filter` saying what is wrong with it.
fn topic_filter(filter: &str) -> Result<TopicFilter, Failure> {
    TopicFilter::new(filter).map_err(|e| Failure::new("invalid_filter", e.to_string()))
}

/// An optional options object: `None` when undefined or null.
fn reader<'a>(
    value: &'a JsValue,
    what: &'a str,
    known: &[&str],
) -> Result<Option<Reader<'a>>, Failure> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    Reader::new(value, what, known).map(Some)
}

/// The bytes of `data`: a string as UTF-8, bytes as they are, anything else as JSON.
fn payload_bytes(data: &JsValue) -> Result<Vec<u8>, Failure> {
    if let Some(text) = data.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(bytes) = data.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    if let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    if data.is_undefined() || data.is_function() || data.is_symbol() {
        return Err(Failure::new(
            "invalid_payload",
            "publish data must be a string, a Uint8Array, an ArrayBuffer or a JSON value",
        ));
    }
    let json = js_sys::JSON::stringify(data)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| Failure::new("invalid_payload", "publish data cannot be JSON-encoded"))?;
    Ok(json.into_bytes())
}

#[wasm_bindgen]
impl Client {
    /// Subscribes to a topic filter (`+` one level, `#` the rest). `onMessage` gets every
    /// message matching it; the `message` event gets them too. Resolves once the server
    /// confirmed; the subscription then survives reconnects by itself.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn subscribe(
        &self,
        filter: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "(message: Message) => void")]
        on_message: Option<Function>,
        #[wasm_bindgen(unchecked_optional_param_type = "SubscribeOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        self.command(|d| {
            let presence = match reader(&options, "subscribe options", &["presence"])? {
                Some(o) => o.boolean("presence")?.unwrap_or(false),
                None => false,
            };
            let filter = topic_filter(filter)?;
            let (promise, deferred) = Deferred::start();
            d.app()
                .subscribe(host::now(), filter, presence, on_message, deferred);
            Ok(promise)
        })
    }

    /// Unsubscribes; resolves once the server confirmed.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unsubscribe(&self, filter: &str) -> Promise {
        self.command(|d| {
            let filter = topic_filter(filter)?;
            let (promise, deferred) = Deferred::start();
            d.app().unsubscribe(host::now(), filter, deferred);
            Ok(promise)
        })
    }

    /// Seals and publishes `data` (a string as UTF-8, bytes as they are, any other value
    /// as JSON). QoS 1 (the default) resolves once the server acked it, after retries
    /// and reconnects if need be; its `receipt` event follows once every subscriber
    /// acked. QoS 0 resolves once sent. Rejects exactly once otherwise.
    #[wasm_bindgen(unchecked_return_type = "Promise<PublishResult>")]
    pub fn publish(
        &self,
        topic: &str,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer | unknown")]
        data: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "PublishOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        self.command(|d| {
            let (qos, plaintext) = match reader(&options, "publish options", &["qos", "plaintext"])?
            {
                Some(o) => (o.uint("qos")?, o.boolean("plaintext")?.unwrap_or(false)),
                None => (None, false),
            };
            let qos = match qos.unwrap_or(1) {
                0 => Qos::AtMostOnce,
                1 => Qos::AtLeastOnce,
                other => {
                    return Err(Failure::options(format!("qos {other}: expected 0 or 1")));
                }
            };
            let topic = Topic::new(topic).map_err(Failure::from)?;
            let payload = payload_bytes(&data)?;
            let mut publish = PublishOptions::default();
            publish.qos = qos;
            publish.plaintext = plaintext;
            let (promise, deferred) = Deferred::start();
            d.app()
                .publish(host::now(), &topic, &payload, publish, deferred);
            Ok(promise)
        })
    }

    /// Adds a listener: `state`, `message`, `presence`, `receipt`, `restored`,
    /// `subscriptionLost`, `deliveryRejected` or `error`. (Typed in the custom section:
    /// the listener's argument follows the event name, see `ClientEvents`.)
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: JsValue) -> Result<(), JsValue> {
        let listeners = self.shared.borrow().listeners().clone();
        listeners.on(event, &listener)
    }

    /// Removes a listener added with `on`.
    #[wasm_bindgen(skip_typescript)]
    pub fn off(&self, event: &str, listener: JsValue) -> Result<(), JsValue> {
        let listeners = self.shared.borrow().listeners().clone();
        listeners.off(event, &listener)
    }

    /// The connection state now (`ConnectionState`).
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> JsValue {
        let state = self.shared.borrow().state();
        events::state(&state, host::now())
    }

    /// The client id in effect (chosen at random unless `clientId` was given).
    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> String {
        self.shared.borrow().client_id()
    }

    /// The proof that the client id is this client's, from the server's last welcome: keep
    /// it with the client id (e.g. in `localStorage`) to resume after a page load.
    #[wasm_bindgen(getter, js_name = resumeToken)]
    pub fn resume_token(&self) -> String {
        self.shared.borrow().resume_token()
    }

    /// Reconnects now if waiting to, or checks a live connection with a ping at once.
    #[wasm_bindgen(js_name = reconnectNow)]
    pub fn reconnect_now(&self) {
        self.shared.borrow_mut().app().reconnect_now(host::now());
        pump(&self.shared);
    }

    /// Sets the key (or keyring: `[{ id, key }, ...]`, newest last) for topics matching
    /// `filter`, e.g. a private room: `client.setTopicKey("chat/secret", key)`.
    #[wasm_bindgen(js_name = setTopicKey)]
    pub fn set_topic_key(
        &self,
        filter: &str,
        #[wasm_bindgen(unchecked_param_type = "string | KeySpec[]")] key: JsValue,
    ) -> Result<(), JsValue> {
        let filter = topic_filter(filter)?;
        let ring = options::keyring_of(&key, "setTopicKey")?;
        self.shared
            .borrow_mut()
            .app()
            .keys_mut()
            .set_for_filter(filter, ring);
        Ok(())
    }

    /// Forgets the key set for `filter` with `setTopicKey`; true if there was one.
    #[wasm_bindgen(js_name = removeTopicKey)]
    pub fn remove_topic_key(&self, filter: &str) -> Result<bool, JsValue> {
        let filter = topic_filter(filter)?;
        Ok(self
            .shared
            .borrow_mut()
            .app()
            .keys_mut()
            .remove_for_filter(&filter))
    }

    /// Closes the client for good: pending publishes and requests reject with `closed`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.shared.borrow_mut().app().close(host::now());
        pump(&self.shared);
        Promise::resolve(&JsValue::UNDEFINED)
    }

    /// Creates a session (admin). `adminToken` is needed when the server has one.
    #[wasm_bindgen(js_name = createSession, unchecked_return_type = "Promise<SessionSettings>")]
    pub fn create_session(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "CreateSessionOptions")] options: JsValue,
    ) -> Promise {
        let parsed = (|| {
            let o = Reader::new(
                &options,
                "createSession options",
                &["password", "secret", "adminToken", "settings"],
            )?;
            let config = match o.object("settings") {
                Some(settings) => session_config(&settings, "settings")?,
                None => SessionConfig::default(),
            };
            let password = o.required_string("password")?;
            let secret = o.required_string("secret")?;
            let token = o.string("adminToken")?.unwrap_or_default();
            Ok::<_, Failure>((config, password, secret, token))
        })();
        match parsed {
            Ok((config, password, secret, token)) => self.admin(
                name,
                &token,
                AdminOp::Create {
                    password,
                    secret,
                    config,
                },
            ),
            Err(failure) => rejected(failure),
        }
    }

    /// Changes a session's settings (admin, with its secret key).
    #[wasm_bindgen(js_name = configureSession, unchecked_return_type = "Promise<SessionSettings>")]
    pub fn configure_session(
        &self,
        name: &str,
        secret: &str,
        #[wasm_bindgen(unchecked_param_type = "SessionSettings")] settings: JsValue,
    ) -> Promise {
        match session_config(&settings, "session settings") {
            Ok(config) => self.admin(name, secret, AdminOp::Configure(config)),
            Err(failure) => rejected(failure),
        }
    }

    /// A session's settings (admin, with its secret key).
    #[wasm_bindgen(js_name = describeSession, unchecked_return_type = "Promise<SessionSettings>")]
    pub fn describe_session(&self, name: &str, secret: &str) -> Promise {
        self.admin(name, secret, AdminOp::Describe)
    }

    /// Closes every connection of a session and refuses new ones until resumed (admin).
    #[wasm_bindgen(js_name = suspendSession, unchecked_return_type = "Promise<SessionSettings>")]
    pub fn suspend_session(&self, name: &str, secret: &str) -> Promise {
        self.admin(name, secret, AdminOp::Suspend)
    }

    /// Accepts connections to a suspended session again (admin).
    #[wasm_bindgen(js_name = resumeSession, unchecked_return_type = "Promise<SessionSettings>")]
    pub fn resume_session(&self, name: &str, secret: &str) -> Promise {
        self.admin(name, secret, AdminOp::Resume)
    }

    /// Drops a session and everything in it (admin).
    #[wasm_bindgen(js_name = dropSession, unchecked_return_type = "Promise<SessionSettings>")]
    pub fn drop_session(&self, name: &str, secret: &str) -> Promise {
        self.admin(name, secret, AdminOp::Drop)
    }
}
