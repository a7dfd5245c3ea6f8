//! Execution against RocksDB on disk: state roots checked against alloy-trie's reference
//! implementation, and invalid transactions skipped deterministically.

use alloy::sol_types::SolCall;
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
use flashlayer_execution::{
    BlockExecutor, ChainConfig, Deposit, FeeMode, L1Origin, Payload, SkipReason,
    messages::{L2_MESSAGE_PASSER, L2_MESSAGE_PASSER_CODE},
};
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
        alloc_file: None,
        alloc_dropped: None,
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

    // Every layer's genesis also holds the system contracts.
    alloc
        .insert(L2_MESSAGE_PASSER, GenesisAccount::default().with_code(Some(L2_MESSAGE_PASSER_CODE.clone())));
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
        ..Default::default()
    };
    let out = executor.execute(&block1, B256::repeat_byte(1), &|_: &B256| None).unwrap();
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
    assert_eq!(
        other.execute(&block1, B256::repeat_byte(1), &|_: &B256| None).unwrap().block.hash,
        out.block.hash
    );

    let block2 = Payload {
        timestamp: 11,
        transactions: vec![tx(&b, 0, TxKind::Call(a.address()), 77, vec![], 21_000)],
        ..Default::default()
    };
    let out2 = executor.execute(&block2, B256::repeat_byte(2), &|_: &B256| None).unwrap();
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

alloy::sol! {
    function withdraw(address to) payable returns (bytes32);
}

/// Deposits are credited before the block's transactions (so they can spend them), only in
/// nonce order, and recorded with the block; a withdrawal through the L2MessagePasser is
/// recorded as a message whose hash is the one the L1 contract verifies.
#[test]
fn deposits_credit_in_order_and_messages_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let a = signer(1);
    let mut executor = BlockExecutor::open(db.clone(), chain(funded(&[a.address()]))).unwrap();
    assert_eq!(executor.last_deposit_nonce(), 0);

    // A fresh account gets a deposit and spends from it in the same block.
    let fresh = signer(9);
    let deposit = |nonce: u64, to: Address, wei: u128| Deposit {
        nonce,
        from: Address::repeat_byte(0xd0),
        to,
        amount: U256::from(wei),
    };
    let recipient = Address::repeat_byte(0x44);
    let origin = L1Origin { number: 12, hash: B256::repeat_byte(12) };
    let block1 = Payload {
        timestamp: 10,
        transactions: vec![
            tx(&fresh, 0, TxKind::Call(Address::repeat_byte(0x55)), 1_000, vec![], 21_000),
            tx(
                &a,
                0,
                TxKind::Call(L2_MESSAGE_PASSER),
                5_000,
                withdrawCall { to: recipient }.abi_encode(),
                200_000,
            ),
        ],
        l1_origin: origin,
        // nonce 3 is out of order and must be ignored
        deposits: vec![deposit(1, fresh.address(), 10u128.pow(18)), deposit(3, fresh.address(), 7)],
        end: false,
        membership: vec![],
    };
    let out = executor.execute(&block1, B256::repeat_byte(1), &|_: &B256| None).unwrap();
    assert_eq!(out.block.transactions.len(), 2, "skipped: {:?}", out.skipped);
    assert_eq!(out.settlement.last_deposit_nonce, 1);
    assert_eq!(out.settlement.deposits.len(), 1);
    assert_eq!(out.settlement.l1_origin, origin);
    let fresh_account = db.account(&keccak256(fresh.address())).unwrap().unwrap();
    assert!(fresh_account.balance < U256::from(10u128.pow(18)) && fresh_account.balance > U256::ZERO);

    let [message] = out.settlement.messages.as_slice() else { panic!("{:?}", out.settlement.messages) };
    assert_eq!((message.sender, message.target, message.value), (a.address(), recipient, U256::from(5_000)));
    assert_eq!(message.nonce, U256::from(1));
    let encoded = (message.nonce, message.sender, message.target, message.value, message.data.clone());
    assert_eq!(message.hash, keccak256(alloy::sol_types::SolValue::abi_encode_params(&encoded)));

    // Stored with the block, and the executor resumes from it.
    assert_eq!(BlockExecutor::settlement_of(&db, 1).unwrap(), out.settlement);
    drop(executor);
    let executor = BlockExecutor::open(db, chain(funded(&[a.address()]))).unwrap();
    assert_eq!(executor.last_deposit_nonce(), 1);
}

/// A genesis alloc past `KEEP_ALLOC_UP_TO` is left out of the parsed description and streamed
/// from its file in chunks: the same genesis (hash and state root) as the whole alloc in memory,
/// storage and code included, over more than one chunk.
#[test]
fn a_large_alloc_streamed_from_its_file_gives_the_same_genesis_as_in_memory() {
    let mut alloc: BTreeMap<Address, GenesisAccount> = (0..300_001u64)
        .map(|i| {
            let address = Address::from_slice(&keccak256(i.to_be_bytes())[12..]);
            (address, GenesisAccount::default().with_balance(U256::from(i + 1)))
        })
        .collect();
    let storage = BTreeMap::from([(B256::with_last_byte(1), B256::with_last_byte(7))]);
    alloc.insert(
        Address::repeat_byte(0xc0),
        GenesisAccount::default().with_code(Some(Bytes::from(vec![0x60, 0x00]))).with_storage(Some(storage)),
    );
    let in_memory = chain(alloc);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layer.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({ "chain": &in_memory, "other": [1, 2] })).unwrap(),
    )
    .unwrap();

    #[derive(serde::Deserialize)]
    struct Description {
        chain: ChainConfig,
    }
    let mut parsed = serde_json::from_slice::<Description>(&std::fs::read(&file).unwrap()).unwrap().chain;
    assert_eq!(parsed.alloc_dropped, Some(300_002));
    assert!(parsed.genesis.alloc.is_empty(), "a large alloc is not held in memory");
    assert!(BlockExecutor::open(Db::open(&dir.path().join("none")).unwrap(), parsed.clone()).is_err());
    parsed.alloc_file = Some(file);
    assert_eq!(parsed.genesis_supply().unwrap(), in_memory.genesis_supply().unwrap());

    let streamed = BlockExecutor::open(Db::open(&dir.path().join("streamed")).unwrap(), parsed).unwrap();
    let whole = BlockExecutor::open(Db::open(&dir.path().join("whole")).unwrap(), in_memory).unwrap();
    assert_eq!(streamed.head().state_root, whole.head().state_root);
    assert_eq!(streamed.head_hash(), whole.head_hash());
}
