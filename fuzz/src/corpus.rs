//! Replays a target's committed seed corpus through its checks, for the stable `cargo test`
//! of the crates the targets fuzz (`proto/tests/fuzz_corpus.rs`, `server/tests/fuzz_corpus.rs`
//! include this file), so the corpus is covered without libFuzzer.

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/corpus/<target>` (at least `min_files` of them) and
/// names the files it panics on.
pub fn check_corpus(target: &str, min_files: usize, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= min_files,
        "{} holds the seed corpus",
        dir.display()
    );
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
