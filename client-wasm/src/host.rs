//! What the driver calls outside Rust: the driver's JavaScript half (`js/driver.js`:
//! promises, listeners, page events), the page's timer and clock, and the WebSocket with
//! the handlers it holds on to.

use fastport_client_core::time::Instant;
use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::error::Failure;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    /// A promise and the two functions that settle it.
    #[derive(Debug)]
    pub(crate) type Deferred;
    #[wasm_bindgen(constructor)]
    fn new() -> Deferred;
    #[wasm_bindgen(method, getter)]
    fn promise(this: &Deferred) -> Promise;
    #[wasm_bindgen(method)]
    pub(crate) fn resolve(this: &Deferred, value: &JsValue);
    #[wasm_bindgen(method)]
    pub(crate) fn reject(this: &Deferred, value: &JsValue);

    /// A client's event listeners (`Client.on`, `off`).
    #[derive(Clone)]
    pub(crate) type Listeners;
    #[wasm_bindgen(constructor)]
    pub(crate) fn new() -> Listeners;
    #[wasm_bindgen(method, catch)]
    pub(crate) fn on(this: &Listeners, event: &str, listener: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    pub(crate) fn off(this: &Listeners, event: &str, listener: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    pub(crate) fn emit(this: &Listeners, event: &str, value: &JsValue);

    /// Calls an application callback; an exception in it is reported on the console.
    pub(crate) fn deliver(listener: &Function, value: &JsValue);

    /// Calls `wake` when the browser is back online or the page visible again; returns
    /// the function that stops it (`undefined` in a worker).
    #[wasm_bindgen(js_name = watchNetwork)]
    pub(crate) fn watch_network(wake: &Function) -> Option<Function>;
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// `d` in milliseconds, to the microsecond (in f64 without going through u128).
pub(crate) fn millis(d: core::time::Duration) -> f64 {
    d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_micros()) / 1000.0
}

/// Milliseconds on the page's monotonic clock, as the core's `Instant`.
pub(crate) fn now() -> Instant {
    let ms = performance_now().max(0.0);
    // Microsecond resolution; f64 milliseconds hold that exactly for centuries.
    Instant::from_micros((ms * 1000.0) as u64)
}

impl Deferred {
    /// A new promise and what settles it.
    pub(crate) fn start() -> (Promise, Deferred) {
        let deferred = Deferred::new();
        (deferred.promise(), deferred)
    }
}

/// The WebSocket and the handlers it holds on to; handlers of replaced sockets see their
/// generation is stale and do nothing.
pub(crate) struct Socket {
    pub(crate) ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens a WebSocket to `url` that hands binary messages over as `ArrayBuffer`s to
    /// these handlers; `Err` says why the browser refused to even try.
    pub(crate) fn open(
        url: &str,
        on_open: Closure<dyn FnMut()>,
        on_message: Closure<dyn FnMut(MessageEvent)>,
        on_close: Closure<dyn FnMut(CloseEvent)>,
    ) -> Result<Socket, String> {
        let ws = WebSocket::new(url).map_err(|e| {
            e.as_string()
                .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()))
                .unwrap_or_else(|| format!("cannot open a WebSocket to {url}"))
        })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Detaches the handlers and closes the socket (the core already forgot it).
    pub(crate) fn shut(self, code: u16, reason: &str) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // Only 1000 and 3000..=4999 may be sent by a page; the core only asks for those.
        if self.ws.close_with_code_and_reason(code, reason).is_err() {
            let _ = self.ws.close();
        }
    }
}

/// A promise already rejected with `failure`: commands answer mistakes this way, so
/// `await` is the one place errors come out.
pub(crate) fn rejected(failure: Failure) -> Promise {
    Promise::reject(&failure.to_js())
}
