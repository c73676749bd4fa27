//! A delivered message as JavaScript sees it.

use fastport_client_core::client::Message as CoreMessage;
use fastport_client_core::codec::Qos;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::error::Failure;

/// A message delivered to this client: verified and decrypted before it got here.
#[wasm_bindgen]
#[derive(Debug, Clone)]
pub struct Message {
    topic: String,
    publisher: String,
    payload: Vec<u8>,
    encrypted: bool,
    key_id: Option<String>,
    qos: u8,
    delivery_id: u64,
    envelope: bytes::Bytes,
}

impl From<CoreMessage> for Message {
    fn from(m: CoreMessage) -> Message {
        Message {
            topic: m.topic.as_str().to_owned(),
            publisher: m.publisher,
            payload: m.payload,
            encrypted: m.encrypted,
            key_id: m.key_id.map(|k| k.as_str().to_owned()),
            qos: match m.qos {
                Qos::AtMostOnce => 0,
                _ => 1,
            },
            delivery_id: m.delivery_id,
            envelope: m.envelope,
        }
    }
}

#[wasm_bindgen]
impl Message {
    /// The topic it was published to.
    #[wasm_bindgen(getter)]
    pub fn topic(&self) -> String {
        self.topic.clone()
    }

    /// The publisher's client id, as the server saw it.
    #[wasm_bindgen(getter)]
    pub fn publisher(&self) -> String {
        self.publisher.clone()
    }

    /// The plaintext bytes (a new `Uint8Array` on every read).
    #[wasm_bindgen(getter)]
    pub fn payload(&self) -> Uint8Array {
        Uint8Array::from(self.payload.as_slice())
    }

    /// Whether it was sealed end to end (false only with `acceptPlaintext`).
    #[wasm_bindgen(getter)]
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// The id of the key that opened it (`""` for an unnamed key), or `undefined`.
    #[wasm_bindgen(getter, js_name = keyId)]
    pub fn key_id(&self) -> Option<String> {
        self.key_id.clone()
    }

    /// 0 (at most once) or 1 (at least once).
    #[wasm_bindgen(getter)]
    pub fn qos(&self) -> u8 {
        self.qos
    }

    /// The sealed envelope exactly as the server relayed it: all the server ever saw of
    /// this message (version, flags, key id, IV, ciphertext, MAC). For showing what
    /// end-to-end encryption hides; a new `Uint8Array` on every read.
    #[wasm_bindgen(getter)]
    pub fn envelope(&self) -> Uint8Array {
        Uint8Array::from(&self.envelope[..])
    }

    /// The server's id of this message in the session.
    #[wasm_bindgen(getter, js_name = deliveryId)]
    pub fn delivery_id(&self) -> f64 {
        self.delivery_id as f64
    }

    /// The payload as UTF-8 text; throws `FastPortError` `not_text` if it is not UTF-8.
    pub fn text(&self) -> Result<String, JsValue> {
        String::from_utf8(self.payload.clone()).map_err(|_| {
            Failure::new(
                "not_text",
                format!("the payload on `{}` is not UTF-8 text", self.topic),
            )
            .to_js()
        })
    }

    /// The payload parsed as JSON; throws `FastPortError` `not_json` if it is not.
    pub fn json(&self) -> Result<JsValue, JsValue> {
        let text = self.text()?;
        js_sys::JSON::parse(&text).map_err(|_| {
            Failure::new(
                "not_json",
                format!("the payload on `{}` is not JSON", self.topic),
            )
            .to_js()
        })
    }
}
