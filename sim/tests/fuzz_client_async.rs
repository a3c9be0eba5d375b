//! The fuzz target `client_async`'s committed inputs (`fuzz/corpus/client_async/seed-*`),
//! replayed under `cargo test` through the very harness the target runs
//! (`fuzz/src/client_async.rs`, included by path), with every invariant asserted. A crash
//! found by fuzzing goes next to them as `seed-crash-*` with its fix. Trace one:
//! `FUZZ_TRACE=1 cargo test -p jamey-mqtt-sim --test fuzz_client_async -- --nocapture`;
//! one input: `FUZZ_INPUT=path`.

#[path = "../../fuzz/src/client_async.rs"]
mod client_async;

use std::path::PathBuf;

/// Every seed input passes. `FUZZ_INPUT=path` (from the workspace root, or absolute) replays
/// that one input instead (a crash from `fuzz/artifacts/client_async/`); with `FUZZ_TRACE=1`,
/// traced.
#[test]
fn the_client_async_seed_inputs_pass() {
    if let Some(path) = std::env::var_os("FUZZ_INPUT") {
        // Relative to the workspace root (tests run in the package's folder).
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        client_async::run(&std::fs::read(path).expect("readable FUZZ_INPUT"));
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/client_async");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "the seed inputs are missing from {}",
        dir.display()
    );
    for file in &files {
        let data = std::fs::read(file).expect("readable input");
        if std::panic::catch_unwind(|| client_async::run(&data)).is_err() {
            panic!("fuzz input {} fails", file.display());
        }
    }
}
