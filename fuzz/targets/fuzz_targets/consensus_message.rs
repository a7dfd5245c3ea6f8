#![no_main]
//! `flashlayer_fuzz::consensus_message` under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashlayer_fuzz::consensus_message(data));
