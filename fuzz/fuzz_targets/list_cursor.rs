//! The account list's cursor: see `api::fuzzing::list_cursor`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| api::fuzzing::list_cursor(input));
