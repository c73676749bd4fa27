//! PBKDF2 in the browser's WebCrypto (`crypto.subtle`), which runs off the page's thread.

use fastport_client_core::crypto::Key;
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::Failure;
use crate::js::object;

fn get(target: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `target.name(...args)`, if it is a function.
fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(target, name)
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| JsValue::from_str(name))?;
    f.apply(target, &args.iter().collect::<Array>())
}

/// `promise.then(f)`.
fn then(promise: &JsValue, f: JsValue) -> Result<JsValue, JsValue> {
    call(promise, "then", &[f])
}

/// The 32-byte PBKDF2-HMAC-SHA256 of `passphrase` and `salt`, resolving with the key in
/// base64; `None` where the page has no `crypto.subtle` (insecure contexts).
pub(crate) fn pbkdf2(passphrase: &str, salt: &[u8], iterations: u32) -> Option<Promise> {
    let subtle = get(&js_sys::global(), "crypto").and_then(|c| get(&c, "subtle"))?;
    let usages: Array = std::iter::once(JsValue::from_str("deriveBits")).collect();
    let imported = call(
        &subtle,
        "importKey",
        &[
            "raw".into(),
            Uint8Array::from(passphrase.as_bytes()).into(),
            "PBKDF2".into(),
            false.into(),
            usages.into(),
        ],
    )
    .ok()?;
    let params = object(&[
        ("name", "PBKDF2".into()),
        ("salt", Uint8Array::from(salt).into()),
        ("iterations", iterations.into()),
        ("hash", "SHA-256".into()),
    ]);
    let derive = Closure::once_into_js(move |key: JsValue| -> JsValue {
        call(&subtle, "deriveBits", &[params, key, 256.into()])
            .unwrap_or_else(|e| Promise::reject(&e).into())
    });
    let encode = Closure::once_into_js(move |bits: JsValue| -> JsValue {
        let bytes = Uint8Array::new(&bits).to_vec();
        match Key::from_slice(&bytes) {
            Ok(key) => key.to_base64().into(),
            Err(e) => Promise::reject(&Failure::from(e).to_js()).into(),
        }
    });
    let derived = then(&imported, derive).ok()?;
    then(&derived, encode).ok()?.dyn_into().ok()
}
