//! fastPort client core: the sans-IO client state machine, the wire codec shared with the
//! server, topics, and end-to-end payload encryption.

pub mod codec;
pub mod crypto;
pub mod names;
pub mod time;
pub mod topic;
