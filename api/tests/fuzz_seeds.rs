//! The fuzz targets' properties (`api::fuzzing`, run by `cargo fuzz` in `fuzz/`) over their seed
//! inputs, on every test run: a target that no longer holds on its own seeds fails here, without
//! nightly.

// A test: its helpers fail by panicking with the reason.
#![allow(clippy::expect_used)]

use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut found: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("an entry").path()).expect("a seed"))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no seeds for {target}");
    found
}

/// As `fuzz_target!(|s: &str| …)`: inputs that are not UTF-8 are skipped.
fn each_text(target: &str, run: fn(&str)) {
    for seed in seeds(target) {
        if let Ok(text) = std::str::from_utf8(&seed) {
            run(text);
        }
    }
}

#[test]
fn the_fuzz_targets_hold_on_their_seeds() {
    for seed in seeds("csv_import") {
        api::fuzzing::csv_import(&seed);
    }
    each_text("username", api::fuzzing::username);
    each_text("email", api::fuzzing::email);
    each_text("locale", api::fuzzing::locale);
    each_text("list_cursor", api::fuzzing::list_cursor);
    each_text("list_filter", api::fuzzing::user_list_query);
}
