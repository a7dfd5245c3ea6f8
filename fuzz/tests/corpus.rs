//! Replays every fuzz target's checked-in corpus (`fuzz/corpus/<target>/`) and its seeds
//! through its harness on stable: what libFuzzer found interesting (and every input that once
//! failed, kept there as a regression) stays covered in `scripts/test` without a nightly
//! toolchain. `scripts/fuzz` runs the targets themselves.

use flashlayer_fuzz::{TARGETS, seeds};
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

#[test]
fn every_corpus_input_and_seed_runs_clean() {
    let seeds = seeds();
    for (name, harness) in TARGETS {
        let mut inputs: Vec<(String, Vec<u8>)> = seeds
            .iter()
            .filter(|(target, _)| target == name)
            .enumerate()
            .map(|(i, (_, bytes))| (format!("seed {i}"), bytes.clone()))
            .collect();
        assert!(!inputs.is_empty(), "{name} has no seed");
        let dir = corpus_dir(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            inputs.push((path.display().to_string(), bytes));
        }
        println!("{name}: {} inputs", inputs.len());
        for (what, bytes) in inputs {
            if std::panic::catch_unwind(|| harness(&bytes)).is_err() {
                panic!("fuzz target {name} fails on {what}");
            }
        }
    }
}
