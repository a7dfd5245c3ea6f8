//! State-root time against state size: the same block of changes (1,000 accounts updated,
//! 1,000 created) over an account trie of 10k, 1M and 10M accounts, through the incremental trie
//! (`trie_root` over the stored branch nodes). It should follow the changed keys, not the size.
//!
//! Run by `scripts/bench --all` (`cargo bench -p flashlayer-storage --bench state_root`).
//! `FLASHLAYER_TRIE_SIZES` (comma-separated account counts, default `10000,1000000,10000000`)
//! picks the sizes; building 10M accounts takes a few minutes and about 2 GB of disk. Prints the
//! median of 15 runs per size.

use alloy::primitives::{B256, U256, keccak256};
use alloy_trie::TrieAccount;
use flashlayer_storage::{
    Db,
    trie::{LeafOverlay, TrieId, trie_root},
};
use std::time::Instant;

fn account(nonce: u64) -> Vec<u8> {
    alloy::rlp::encode(TrieAccount { nonce, balance: U256::from(10u64.pow(18)), ..Default::default() })
}

fn key(i: u64) -> B256 {
    keccak256(i.to_be_bytes())
}

/// Writes `size` accounts in chunks, each an incremental update, as genesis does.
fn build(db: &Db, size: u64) {
    const CHUNK: u64 = 250_000;
    let started = Instant::now();
    let mut from = 0;
    while from < size {
        let to = (from + CHUNK).min(size);
        let overlay: LeafOverlay = (from..to).map(|i| (key(i), Some(account(0)))).collect();
        let out = trie_root(db, TrieId::Accounts, &overlay, false, &[]).expect("root");
        let mut write = db.block_write();
        for (k, v) in &overlay {
            write.leaf(TrieId::Accounts, k, v.as_deref());
        }
        write.trie_updates(TrieId::Accounts, &out.updates);
        write.commit().expect("commit");
        from = to;
        eprint!("\r  built {to} accounts ({:.0} s)", started.elapsed().as_secs_f64());
    }
    eprintln!();
}

fn main() {
    let sizes: Vec<u64> = std::env::var("FLASHLAYER_TRIE_SIZES")
        .unwrap_or_else(|_| "10000,1000000,10000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("FLASHLAYER_TRIE_SIZES: comma-separated counts"))
        .collect();
    // The same block at every size: 1,000 accounts that exist in all of them change, 1,000
    // new ones appear.
    let block: LeafOverlay = (0..1_000u64)
        .map(|i| (key(i * 7), Some(account(1))))
        .chain((0..1_000u64).map(|i| (keccak256(format!("new-{i}")), Some(account(1)))))
        .collect();
    println!("{:>12} {:>16} {:>14} {:>14}", "accounts", "state root (ms)", "leaves read", "nodes written");
    for size in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path()).expect("db");
        build(&db, size);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..15 {
            let started = Instant::now();
            let out = trie_root(&db, TrieId::Accounts, &block, false, &[]).expect("root");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            last = Some(out);
        }
        times.sort_by(f64::total_cmp);
        let out = last.expect("ran");
        println!(
            "{size:>12} {:>16.2} {:>14} {:>14}",
            times[times.len() / 2],
            out.leaves_fed,
            out.updates.len()
        );
    }
}
