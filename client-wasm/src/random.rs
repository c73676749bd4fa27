//! The random source of the core (keys, IVs, client ids, jitter): the browser's
//! `crypto.getRandomValues`, registered with getrandom as its custom source. Called
//! directly rather than through getrandom's `js` backend, which also probes for Node.js
//! and keeps the probe's result in a thread-local (3 KB of the module).

use std::num::NonZeroU32;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<(), JsValue>;
}

/// `crypto.getRandomValues` is missing or threw.
const UNAVAILABLE: NonZeroU32 = match NonZeroU32::new(getrandom::Error::CUSTOM_START + 1) {
    Some(code) => code,
    None => NonZeroU32::MIN,
};

/// Most bytes one `getRandomValues` call may fill.
const MAX_CALL: usize = 65_536;

fn fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    for chunk in buf.chunks_mut(MAX_CALL) {
        get_random_values(chunk).map_err(|_| getrandom::Error::from(UNAVAILABLE))?;
    }
    Ok(())
}

getrandom::register_custom_getrandom!(fill);
