//! PBKDF2 in the browser's WebCrypto (`crypto.subtle`), which runs off the page's thread.
//! The calls are a few lines of JavaScript (`js/driver.js`).

use js_sys::Promise;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    /// The 32-byte PBKDF2-HMAC-SHA256 of `passphrase` and `salt`, resolving with the key in
    /// base64; `None` where the page has no `crypto.subtle` (insecure contexts).
    pub(crate) fn pbkdf2(passphrase: &str, salt: &[u8], iterations: u32) -> Option<Promise>;
}
