#![no_main]
//! `flashlayer_fuzz::raw_transaction` under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashlayer_fuzz::raw_transaction(data));
