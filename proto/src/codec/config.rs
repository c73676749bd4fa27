//! Session configuration as it travels in `Welcome`, admin requests and admin results.
//!
//! Encoded as a list of `(tag, value)` varint pairs, each field optional: an admin
//! update carries only the fields it changes, and a receiver skips tags it does not
//! know, so new settings can be added without a version bump. The tags, fields and their
//! wire types are the table in [`crate::settings`].

use bytes::BufMut;

use super::wire::{put_varint, varint_len, Reader};
use super::DecodeError;
use crate::settings::Setting;
pub use crate::settings::{SessionConfig, SlowConsumerPolicy};

impl SessionConfig {
    pub(crate) fn encoded_len(&self) -> usize {
        let mut count = 0;
        let mut len = 0;
        for (setting, value) in self.stated() {
            count += 1;
            len += varint_len(setting as u64) + varint_len(value);
        }
        varint_len(count) + len
    }

    pub(crate) fn encode(&self, out: &mut impl BufMut) {
        put_varint(out, self.stated().count() as u64);
        for (setting, value) in self.stated() {
            put_varint(out, setting as u64);
            put_varint(out, value);
        }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<SessionConfig, DecodeError> {
        let count = r.varint("config_count")?;
        let mut c = SessionConfig::default();
        for _ in 0..count {
            let tag = r.varint("config_tag")?;
            let value = r.varint("config_value")?;
            // Settings added by newer peers are skipped, not rejected.
            if let Some(setting) = Setting::from_tag(tag) {
                c.set(setting, value)?;
            }
        }
        Ok(c)
    }
}
