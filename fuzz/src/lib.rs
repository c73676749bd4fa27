//! What each fuzz target checks, one module per target family. The modules are plain files
//! with no dependency on libFuzzer, so the workspace's tests include them
//! (`proto/tests/fuzz_corpus.rs`, `server/tests/fuzz_corpus.rs`) and run the same checks on
//! every file of `fuzz/corpus/` with the stable toolchain.

pub mod admin;
pub mod config;
pub mod corpus;
pub mod frames;
pub mod headers;
pub mod hello;
