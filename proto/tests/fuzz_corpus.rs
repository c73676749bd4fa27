//! The seed corpus of the frame fuzz targets (`fuzz/corpus/frame_from_client`,
//! `fuzz/corpus/frame_from_server`) through the very checks the targets run
//! (`fuzz/src/frames.rs`), so that the stable toolchain covers it without libFuzzer. An input
//! a fuzzer found (a crash, once fixed) is added to that corpus and is checked here from then on.

#[path = "../../fuzz/src/frames.rs"]
mod frames;

#[path = "../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::check_corpus;

#[test]
fn every_seed_from_a_client_decodes_or_is_refused_and_round_trips() {
    check_corpus("frame_from_client", 10, frames::from_client);
}

#[test]
fn every_seed_from_a_server_decodes_or_is_refused_and_round_trips() {
    check_corpus("frame_from_server", 10, frames::from_server);
}
