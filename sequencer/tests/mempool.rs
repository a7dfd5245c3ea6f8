//! The mempool over RocksDB on disk: what an acknowledged transaction that waits is gossiped
//! again, and for how long.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    genesis::{Genesis, GenesisAccount},
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use flashlayer_execution::{BlockExecutor, ChainConfig, FeeMode};
use flashlayer_node::mempool::{Mempool, PoolConfig, REGOSSIP_MAX_GAP};
use flashlayer_storage::Db;
use std::time::{Duration, Instant};

fn chain(funded: &[Address]) -> ChainConfig {
    let alloc = funded
        .iter()
        .map(|a| (*a, GenesisAccount::default().with_balance(U256::from(10u128.pow(21)))))
        .collect();
    let mut genesis =
        Genesis { gas_limit: 30_000_000, base_fee_per_gas: Some(1_000_000_000), alloc, ..Default::default() };
    genesis.config.chain_id = 7;
    ChainConfig {
        chain_id: 7,
        fee_mode: FeeMode::Eip1559,
        fee_recipient: Address::repeat_byte(0xfe),
        genesis,
        alloc_file: None,
        alloc_dropped: None,
    }
}

fn transfer(signer: &PrivateKeySigner, nonce: u64) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id: 7,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(Address::repeat_byte(0x11)),
        value: U256::from(1),
        ..Default::default()
    };
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// Found by the nemesis run: a transaction acknowledged by a node that the leader schedule
/// left out, whose gossip the others had dropped (busy admission, a partition), was gossiped
/// again five times over two minutes and then never more, so it and every later nonce of its
/// sender waited forever. A sender's next transaction must be gossiped again for as long as it
/// waits; later nonces (which cannot run before it) only for the first rounds.
#[test]
fn a_senders_next_transaction_is_gossiped_again_for_as_long_as_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).unwrap();
    let chain = chain(&[signer.address()]);
    let db = Db::open(dir.path()).unwrap();
    // Opening the executor writes the genesis state the mempool checks balances against.
    drop(BlockExecutor::open(db.clone(), chain.clone()).unwrap());
    let mempool = Mempool::new(PoolConfig::default(), db, chain, 1_000_000_000);

    let next = transfer(&signer, 0);
    let later = transfer(&signer, 1);
    let start = Instant::now();
    mempool.admit(&next).unwrap();
    mempool.admit(&later).unwrap();

    assert!(mempool.due_for_regossip(start, usize::MAX).is_empty(), "nothing is due at once");
    // Step through ten minutes a second at a time, as the node's task does.
    let mut gossiped = std::collections::HashMap::<B256, Vec<u64>>::new();
    for second in 1..=600 {
        let now = start + Duration::from_secs(second);
        for raw in mempool.due_for_regossip(now, usize::MAX) {
            gossiped.entry(keccak256(&raw)).or_default().push(second);
        }
    }
    let next_times = &gossiped[&keccak256(&next)];
    let later_times = &gossiped[&keccak256(&later)];
    assert_eq!(later_times.len(), 5, "later nonces get the first rounds only: {later_times:?}");
    assert!(
        *next_times.last().unwrap() > 600 - REGOSSIP_MAX_GAP.as_secs(),
        "the next nonce is still gossiped after ten minutes: {next_times:?}"
    );
    let gaps: Vec<u64> = next_times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g <= REGOSSIP_MAX_GAP.as_secs()), "gaps {gaps:?}");
}
