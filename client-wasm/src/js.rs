//! Reading option objects and building result objects by hand: every key is checked
//! (an unknown one is an error naming it, so a typo never goes unnoticed), and no
//! serialization framework is shipped to the browser.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::Failure;

/// A plain object with these properties.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (key, value) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(key), value);
    }
    o.into()
}

/// `value`, or `null` for `None`.
pub(crate) fn opt<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}

/// An options object being read: `what` names it in errors (`connect options`,
/// `backoff`, ...).
pub(crate) struct Reader<'a> {
    value: &'a JsValue,
    what: &'a str,
}

impl<'a> Reader<'a> {
    /// Checks `value` is an object whose keys are all in `known`.
    pub(crate) fn new(
        value: &'a JsValue,
        what: &'a str,
        known: &[&str],
    ) -> Result<Reader<'a>, Failure> {
        if !value.is_object() || value.is_function() || Array::is_array(value) {
            return Err(Failure::options(format!("{what} must be an object")));
        }
        let keys = Object::keys(value.unchecked_ref::<Object>());
        for key in keys.iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                // A loop, not `join`: 100 bytes smaller gzipped.
                let mut list = String::new();
                for k in known {
                    if !list.is_empty() {
                        list.push_str(", ");
                    }
                    list.push_str(k);
                }
                return Err(Failure::options(format!(
                    "{what}: unknown option `{key}` (known: {list})"
                )));
            }
        }
        Ok(Reader { value, what })
    }

    /// The property, `None` when undefined or null.
    pub(crate) fn get(&self, key: &str) -> Option<JsValue> {
        let v = Reflect::get(self.value, &JsValue::from_str(key)).ok()?;
        (!v.is_undefined() && !v.is_null()).then_some(v)
    }

    fn wrong(&self, key: &str, expected: &str) -> Failure {
        Failure::options(format!("{}: `{key}` must be {expected}", self.what))
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a string")),
        }
    }

    pub(crate) fn required_string(&self, key: &str) -> Result<String, Failure> {
        self.string(key)?
            .ok_or_else(|| Failure::options(format!("{}: `{key}` is required", self.what)))
    }

    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "true or false")),
        }
    }

    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() => Ok(Some(n)),
                _ => Err(self.wrong(key, "a finite number")),
            },
        }
    }

    /// A whole number from 0 to `u32::MAX`.
    pub(crate) fn uint(&self, key: &str) -> Result<Option<u32>, Failure> {
        match self.number(key)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0 => {
                Ok(Some(n as u32))
            }
            Some(_) => Err(self.wrong(key, "a whole number from 0 to 4294967295")),
        }
    }

    /// A nested options object.
    pub(crate) fn object(&self, key: &str) -> Option<JsValue> {
        self.get(key)
    }
}
