#![no_main]
//! `flashlayer_fuzz::tx_gossip_batch` under libFuzzer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashlayer_fuzz::tx_gossip_batch(data));
