#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_auth::fuzzing::token_response(data));
