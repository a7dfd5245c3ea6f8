#![no_main]
//! `flashlayer_fuzz::payload` under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashlayer_fuzz::payload(data));
