#![no_main]
//! `flashlayer_fuzz::settlement_gossip` under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashlayer_fuzz::settlement_gossip(data));
