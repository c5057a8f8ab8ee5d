//! `domain::values::Username::parse` on any text: see `api::fuzzing::username`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| api::fuzzing::username(raw));
