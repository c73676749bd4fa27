//! Errors as JavaScript sees them: `Error` objects named `FastPortError` with a stable
//! `code` (snake_case, listed in the package's type definitions) and a readable `message`.

use std::borrow::Cow;

use fastport_client_core::client::{CloseReason, ServerError};
use fastport_client_core::crypto::CryptoError;
use fastport_client_core::dispatch::Failure as CoreFailure;
use fastport_client_core::names::NameError;
use fastport_client_core::topic::TopicError;
use wasm_bindgen::JsValue;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/driver.js")]
extern "C" {
    /// An `Error` named `FastPortError` with `code` (made where the other errors are).
    fn failure(code: &str, message: &str) -> JsValue;
}

/// An error on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Stable code: a server error code's name (`bad_credentials`, `message_too_large`, ...)
    /// or one of the client's own (`closed`, `outbox_full`, `invalid_options`, ...).
    pub(crate) code: &'static str,
    pub(crate) message: Cow<'static, str>,
}

impl Failure {
    pub(crate) fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn options(message: impl Into<Cow<'static, str>>) -> Failure {
        Failure::new("invalid_options", message)
    }

    /// The `FastPortError` object.
    pub(crate) fn to_js(&self) -> JsValue {
        failure(self.code, &self.message)
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> JsValue {
        f.to_js()
    }
}

impl From<&ServerError> for Failure {
    fn from(e: &ServerError) -> Failure {
        Failure::new(e.code.name(), e.message.clone())
    }
}

/// What the core says went wrong, with its stable code.
impl From<CoreFailure> for Failure {
    fn from(f: CoreFailure) -> Failure {
        Failure::new(f.code(), f.to_string())
    }
}

impl From<&CloseReason> for Failure {
    fn from(reason: &CloseReason) -> Failure {
        Failure::from(CoreFailure::from(reason))
    }
}

impl From<TopicError> for Failure {
    fn from(e: TopicError) -> Failure {
        Failure::new("invalid_topic", e.to_string())
    }
}

impl From<NameError> for Failure {
    fn from(e: NameError) -> Failure {
        Failure::options(e.to_string())
    }
}

impl From<CryptoError> for Failure {
    fn from(e: CryptoError) -> Failure {
        Failure::new("invalid_key", e.to_string())
    }
}
