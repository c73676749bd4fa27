//! The seed corpus of the frame fuzz targets (`fuzz/corpus/frame_from_client`,
//! `fuzz/corpus/frame_from_server`) through the very checks the targets run
//! (`fuzz/src/frames.rs`), so that the stable toolchain covers it without libFuzzer. An input
//! a fuzzer found (a crash, once fixed) is added to that corpus and is checked here from then on.

#[path = "../../fuzz/src/frames.rs"]
mod frames;

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/corpus/<target>` and names the files it panics on.
fn check_corpus(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} holds the seed corpus", dir.display());
    let failing: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("a readable corpus file");
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failing.is_empty(),
        "inputs failing the fuzz checks: {failing:#?}"
    );
}

#[test]
fn every_seed_from_a_client_decodes_or_is_refused_and_round_trips() {
    check_corpus("frame_from_client", frames::from_client);
}

#[test]
fn every_seed_from_a_server_decodes_or_is_refused_and_round_trips() {
    check_corpus("frame_from_server", frames::from_server);
}
