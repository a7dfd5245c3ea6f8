//! Execution against RocksDB on disk: state roots checked against alloy-trie's reference
//! implementation, and invalid transactions skipped deterministically.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    genesis::{Genesis, GenesisAccount},
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use alloy_trie::{
    TrieAccount,
    root::{state_root_unhashed, storage_root_unhashed},
};
use flashlayer_execution::{BlockExecutor, ChainConfig, FeeMode, Payload, SkipReason};
use flashlayer_storage::Db;
use std::collections::BTreeMap;

fn signer(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).unwrap()
}

fn chain(alloc: BTreeMap<Address, GenesisAccount>) -> ChainConfig {
    let mut genesis =
        Genesis { gas_limit: 30_000_000, base_fee_per_gas: Some(1_000_000_000), alloc, ..Default::default() };
    genesis.config.chain_id = 7;
    ChainConfig {
        chain_id: 7,
        fee_mode: FeeMode::Eip1559,
        fee_recipient: Address::repeat_byte(0xfe),
        genesis,
    }
}

fn tx(s: &PrivateKeySigner, nonce: u64, to: TxKind, value: u64, input: Vec<u8>, gas: u64) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id: 7,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to,
        value: U256::from(value),
        input: input.into(),
        ..Default::default()
    };
    let sig = s.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// Init code that stores 0x2a in slot 1 and 0x07 in slot 2, then returns empty runtime code.
fn storing_initcode() -> Vec<u8> {
    // PUSH1 2a PUSH1 01 SSTORE PUSH1 07 PUSH1 02 SSTORE STOP
    vec![0x60, 0x2a, 0x60, 0x01, 0x55, 0x60, 0x07, 0x60, 0x02, 0x55, 0x00]
}

fn funded(addresses: &[Address]) -> BTreeMap<Address, GenesisAccount> {
    addresses
        .iter()
        .map(|a| (*a, GenesisAccount::default().with_balance(U256::from(10u128.pow(21)))))
        .collect()
}

/// The genesis state root equals alloy-trie's reference root over the same accounts, storage
/// and code.
#[test]
fn genesis_state_root_matches_reference() {
    let dir = tempfile::tempdir().unwrap();
    let code = Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xf3]);
    let storage: BTreeMap<B256, B256> = [
        (B256::with_last_byte(1), B256::with_last_byte(0x2a)),
        (B256::with_last_byte(9), B256::with_last_byte(3)),
    ]
    .into();
    let mut alloc = funded(&[signer(1).address(), signer(2).address()]);
    alloc.insert(
        Address::repeat_byte(0xcc),
        GenesisAccount::default()
            .with_balance(U256::from(5))
            .with_code(Some(code.clone()))
            .with_storage(Some(storage.clone()))
            .with_nonce(Some(1)),
    );
    let executor = BlockExecutor::open(Db::open(dir.path()).unwrap(), chain(alloc.clone())).unwrap();

    let reference = state_root_unhashed(alloc.iter().map(|(address, account)| {
        let storage_root = storage_root_unhashed(
            account.storage.iter().flatten().map(|(k, v)| (*k, U256::from_be_bytes(v.0))),
        );
        let code_hash = account.code.as_ref().map(keccak256).unwrap_or(alloy_trie::KECCAK_EMPTY);
        (
            *address,
            TrieAccount::new(account.nonce.unwrap_or_default(), account.balance, storage_root, code_hash),
        )
    }));
    assert_eq!(executor.head().state_root, reference);
}

/// Blocks executed one after another reach the same state root as a fresh genesis holding the
/// final state: the incremental merge over stored state equals a computation from scratch.
#[test]
fn incremental_state_root_equals_from_scratch_and_skips_are_deterministic() {
    let (a, b) = (signer(1), signer(2));
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut executor = BlockExecutor::open(db.clone(), chain(funded(&[a.address(), b.address()]))).unwrap();

    let c = Address::repeat_byte(0x33);
    let block1 = Payload {
        timestamp: 10,
        transactions: vec![
            tx(&a, 0, TxKind::Call(c), 1_000, vec![], 21_000),
            tx(&a, 1, TxKind::Create, 0, storing_initcode(), 200_000),
            Bytes::from_static(&[0xde, 0xad]),             // undecodable
            tx(&b, 5, TxKind::Call(c), 1, vec![], 21_000), // nonce gap
            tx(&a, 0, TxKind::Call(c), 1, vec![], 21_000), // nonce reused
            tx(&signer(3), 0, TxKind::Call(c), 1, vec![], 21_000), // no funds
        ],
    };
    let out = executor.execute(&block1, B256::repeat_byte(1), &|_| None).unwrap();
    assert_eq!(out.block.transactions.len(), 2);
    let reasons: Vec<SkipReason> = out.skipped.iter().map(|s| s.reason.clone()).collect();
    assert_eq!(reasons[0], SkipReason::Undecodable);
    assert_eq!(reasons[1], SkipReason::NonceTooHigh);
    assert!(!reasons[1].is_final());
    assert_eq!(reasons[2], SkipReason::NonceTooLow);
    assert!(matches!(reasons[3], SkipReason::Invalid(_)));

    // A second node executing the same payloads gets the same block hashes.
    let dir2 = tempfile::tempdir().unwrap();
    let mut other =
        BlockExecutor::open(Db::open(dir2.path()).unwrap(), chain(funded(&[a.address(), b.address()])))
            .unwrap();
    assert_eq!(other.execute(&block1, B256::repeat_byte(1), &|_| None).unwrap().block.hash, out.block.hash);

    let block2 = Payload {
        timestamp: 11,
        transactions: vec![tx(&b, 0, TxKind::Call(a.address()), 77, vec![], 21_000)],
    };
    let out2 = executor.execute(&block2, B256::repeat_byte(2), &|_| None).unwrap();
    assert_eq!(out2.block.header.parent_hash, out.block.hash);

    // Read the final state of every touched account back and build a genesis from it.
    let contract = a.address().create(1);
    let mut alloc = BTreeMap::new();
    for address in [a.address(), b.address(), c, contract, Address::repeat_byte(0xfe)] {
        let Some(account) = db.account(&keccak256(address)).unwrap() else { continue };
        let mut g = GenesisAccount::default().with_balance(account.balance).with_nonce(Some(account.nonce));
        if address == contract {
            let storage = [1u8, 2]
                .into_iter()
                .map(|slot| {
                    let value =
                        db.storage(&keccak256(address), &keccak256(B256::with_last_byte(slot))).unwrap();
                    (B256::with_last_byte(slot), B256::from(value))
                })
                .collect();
            g = g.with_storage(Some(storage));
        }
        alloc.insert(address, g);
    }
    assert_eq!(
        alloc[&contract].storage.as_ref().unwrap()[&B256::with_last_byte(1)],
        B256::with_last_byte(0x2a)
    );
    let dir3 = tempfile::tempdir().unwrap();
    let scratch = BlockExecutor::open(Db::open(dir3.path()).unwrap(), chain(alloc)).unwrap();
    assert_eq!(scratch.head().state_root, out2.block.header.state_root);
}
