#![no_main]
//! `flashlayer_fuzz::jsonrpc` under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashlayer_fuzz::jsonrpc(data));
