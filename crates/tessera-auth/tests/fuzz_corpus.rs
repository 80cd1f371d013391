//! Replays the fuzz targets' committed inputs (fuzz/seeds and fuzz/regressions) through the same
//! entry points, so that every crash the fuzzer ever found stays fixed, without cargo fuzz.
#![allow(clippy::unwrap_used)]

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("redirect_url", tessera_auth::fuzzing::redirect_url),
    ("token_response", tessera_auth::fuzzing::token_response),
    ("www_authenticate", tessera_auth::fuzzing::www_authenticate),
    ("id_token", tessera_auth::fuzzing::id_token),
    ("persisted_cache", tessera_auth::fuzzing::persisted_cache),
];

fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return vec![];
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_every_past_crash_runs_cleanly() {
    for (name, target) in TARGETS {
        let seeds = inputs("seeds", name);
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} has no seed");
        for (path, bytes) in seeds.iter().chain(&inputs("regressions", name)) {
            let outcome = std::panic::catch_unwind(|| target(bytes));
            assert!(outcome.is_ok(), "{name} fails on {path}");
        }
    }
}

#[test]
fn the_fuzz_targets_are_exactly_the_entry_points() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut found: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().replace(".rs", ""))
        .collect();
    found.sort();
    let mut expected: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    expected.sort();
    assert_eq!(found, expected);
}

/// The seeds are not filler: each reaches the part of its parser it was written for.
#[test]
fn the_seeds_reach_past_the_first_check() {
    let seed = |target: &str, name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(target)
                .join(name),
        )
        .unwrap()
    };
    let cache = tessera_auth::cache::TokenCache::default();
    cache
        .deserialize(&seed("persisted_cache", "one_account"))
        .unwrap();
    assert_eq!(cache.accounts()[0].username, "ada@tessera.test");
    let header = String::from_utf8(seed("www_authenticate", "graph_cae")).unwrap();
    assert!(tessera_auth::challenge::claims_challenge(&header).is_some());
}
