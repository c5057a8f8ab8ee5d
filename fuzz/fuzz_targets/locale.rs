//! `domain::values::Locale::parse` on any text: see `api::fuzzing::locale`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| api::fuzzing::locale(raw));
