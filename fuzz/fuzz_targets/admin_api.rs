#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastport_fuzz::admin::request(data));
