//! A delivered message as JavaScript sees it: a plain object of the `Message` class in
//! `js/driver.js` (fields, `text()`, `json()`), built once per delivery. Its fields are
//! read in JavaScript, not through wasm accessors.

use fastport_client_core::client::Message as CoreMessage;
use fastport_client_core::codec::Qos;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

#[wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    #[wasm_bindgen(js_name = Message)]
    type JsMessage;

    /// `payload` and `envelope` are views of wasm memory: the constructor copies them.
    #[wasm_bindgen(constructor, js_class = Message)]
    #[allow(clippy::too_many_arguments)]
    fn new(
        topic: &str,
        publisher: &str,
        payload: &[u8],
        encrypted: bool,
        key_id: Option<&str>,
        qos: u8,
        delivery_id: f64,
        envelope: &[u8],
    ) -> JsMessage;
}

/// The JavaScript `Message` for a delivery.
pub(crate) fn to_js(m: &CoreMessage) -> JsValue {
    let qos = match m.qos {
        Qos::AtMostOnce => 0,
        _ => 1,
    };
    JsMessage::new(
        m.topic.as_str(),
        &m.publisher,
        &m.payload,
        m.encrypted,
        m.key_id.as_ref().map(|k| k.as_str()),
        qos,
        m.delivery_id as f64,
        &m.envelope,
    )
    .into()
}
