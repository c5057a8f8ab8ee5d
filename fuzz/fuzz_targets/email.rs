//! `domain::values::Email::parse` on any text: see `api::fuzzing::email`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| api::fuzzing::email(raw));
