//! The CSV import reader (`domain::import::Rows`) on any bytes: see `api::fuzzing::csv_import`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| api::fuzzing::csv_import(data));
