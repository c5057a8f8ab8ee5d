//! The account list's query string and filters: see `api::fuzzing::user_list_query`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| api::fuzzing::user_list_query(query));
