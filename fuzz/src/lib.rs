//! The fuzz harnesses: one function per decoder that takes bytes from a peer or a client, each
//! running the node's own code on arbitrary input. None may panic, allocate without bound or
//! hang; where a decoder has an encoder, what decodes must encode back to the same thing.
//!
//! | target | bytes from | the node's code it runs |
//! |---|---|---|
//! | `consensus_message` | any p2p peer | borsh `Message` decoding, then inbound admission (as from a validator and a stranger) |
//! | `tx_gossip_batch` | any p2p peer | the RLP batch, then the mempool's stateless checks of each transaction |
//! | `raw_transaction` | any RPC client | the mempool's stateless checks (`eth_sendRawTransaction`) |
//! | `settlement_gossip` | any p2p peer | `BatchSignature` RLP decoding and signature recovery |
//! | `payload` | a block's proposer | the payload and leader-record RLP |
//! | `jsonrpc` | any RPC client | the whole JSON-RPC module (every namespace) on a node's database |
//!
//! `fuzz/targets` is the cargo-fuzz project (nightly, libFuzzer) that runs them
//! (`scripts/fuzz`); `tests/corpus.rs` replays the checked-in corpora (`fuzz/corpus/<target>`)
//! and [`seeds`] through them on stable, in `scripts/test`. The `fuzz-seeds` binary writes
//! [`seeds`] into a corpus folder.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy},
    eips::eip2718::Encodable2718,
    genesis::{Genesis, GenesisAccount},
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256, keccak256},
    rlp::{Decodable, Encodable},
    signers::{SignerSync, local::PrivateKeySigner},
};
use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{SigningKey, VerifyingKey};
use flashlayer_consensus::{
    InboundLimits,
    admission::Admission,
    schedule::{LeaderRecord, data_hash},
};
use flashlayer_execution::{BlockExecutor, ChainConfig, Deposit, FeeMode, L1Origin, Payload};
use flashlayer_node::{
    lifecycle::Lifecycle,
    mempool::{Mempool, PoolConfig, prepare},
    rpc::{RpcContext, module},
};
use flashlayer_settlement::{
    batch::SignatureSet,
    service::{BATCH, BatchSignature},
};
use flashlayer_storage::Db;
use hotstuff_rs::{
    block_sync::messages::{BlockSyncAdvertiseMessage, BlockSyncRequest},
    hotstuff::messages::{HotStuffMessage, PhaseVote, Proposal},
    hotstuff::types::{Phase, PhaseCertificate},
    networking::messages::Message,
    pacemaker::messages::PacemakerMessage,
    types::{
        block::Block,
        crypto_primitives::Keypair,
        data_types::{BlockHeight, ChainID, CryptoHash, Data, Datum, ViewNumber},
    },
};
use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

/// A fuzz target: a name (its corpus folder) and its harness.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("consensus_message", consensus_message),
    ("tx_gossip_batch", tx_gossip_batch),
    ("raw_transaction", raw_transaction),
    ("settlement_gossip", settlement_gossip),
    ("payload", payload),
    ("jsonrpc", jsonrpc),
];

/// The chain id the harnesses' layer uses.
pub const CHAIN_ID: u64 = 4242;

fn validator_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn stranger() -> VerifyingKey {
    SigningKey::from_bytes(&[9; 32]).verifying_key()
}

/// The account the seeds' transactions come from (funded in the harnesses' genesis).
fn sender() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).expect("a valid key")
}

fn chain() -> &'static ChainConfig {
    static CHAIN: OnceLock<ChainConfig> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let alloc =
            [(sender().address(), GenesisAccount::default().with_balance(U256::from(10u128.pow(24))))]
                .into_iter()
                .collect();
        let mut genesis = Genesis {
            gas_limit: 30_000_000,
            base_fee_per_gas: Some(1_000_000_000),
            alloc,
            ..Default::default()
        };
        genesis.config.chain_id = CHAIN_ID;
        ChainConfig {
            chain_id: CHAIN_ID,
            fee_mode: FeeMode::Eip1559,
            fee_recipient: Address::ZERO,
            genesis,
            alloc_file: None,
            alloc_dropped: None,
        }
    })
}

/// A consensus message from a peer: decoded as the p2p service does, then put through the
/// admission policy as from a validator and as from a stranger. A decoded message re-encodes
/// to bytes that decode and encode the same again.
pub fn consensus_message(data: &[u8]) {
    let Ok(message) = Message::try_from_slice(data) else { return };
    let mut admission = Admission::new(InboundLimits::default());
    let validator = validator_key().verifying_key();
    admission.set_validators(vec![validator]);
    let now = Instant::now();
    let _ = admission.admit(validator, &message, data.len() as u64, now);
    let _ = admission.admit(stranger(), &message, data.len() as u64, now);
    let encoded = message.try_to_vec().expect("a decoded message encodes");
    let again = Message::try_from_slice(&encoded).expect("an encoded message decodes");
    assert_eq!(again.try_to_vec().expect("encodes"), encoded, "re-encoding is stable");
}

/// A transaction gossip batch from a peer: the RLP list, then every transaction through the
/// mempool's stateless checks (what `admit_gossiped` does before the pool).
pub fn tx_gossip_batch(data: &[u8]) {
    let Ok(batch) = <Vec<Bytes> as Decodable>::decode(&mut &data[..]) else { return };
    for raw in &batch {
        raw_transaction(raw);
    }
}

/// A raw transaction from a client (`eth_sendRawTransaction`) through the mempool's stateless
/// checks. What passes is known by the hash of exactly the bytes that came in, and encodes back
/// to them: the pool, the journal, gossip and the block all use one identity.
pub fn raw_transaction(data: &[u8]) {
    let Ok((tx, pooled)) = prepare(chain(), data) else { return };
    assert_eq!(pooled.hash, keccak256(data), "the pool's hash is the hash of the bytes received");
    assert_eq!(tx.encoded_2718(), data, "an admitted transaction re-encodes to the bytes received");
}

/// A settlement signature from a peer: decoded as the settlement service does, and its
/// signature recovered against a digest.
pub fn settlement_gossip(data: &[u8]) {
    let Ok(message) = <BatchSignature as Decodable>::decode(&mut &data[..]) else { return };
    let mut encoded = Vec::new();
    message.encode(&mut encoded);
    assert_eq!(BatchSignature::decode(&mut &encoded[..]).expect("decodes"), message, "round trip");
    if let Ok(mut set) = SignatureSet::new(B256::repeat_byte(3), [message.signer], 1) {
        let _ = set.add(message.signer, &message.signature);
    }
}

/// A block's data from its proposer: the payload and the leader record, as validators decode
/// them. What decodes encodes back to something that decodes to the same value.
pub fn payload(data: &[u8]) {
    if let Ok(payload) = Payload::decode(data) {
        assert_eq!(Payload::decode(&payload.encode()).expect("decodes"), payload, "payload round trip");
    }
    if let Ok(record) = LeaderRecord::decode(data) {
        assert_eq!(LeaderRecord::decode(&record.encode()).expect("decodes"), record, "record round trip");
    }
}

/// A node's JSON-RPC surface without the socket: one node's database (genesis only), mempool
/// and every namespace, built once per process.
struct RpcNode {
    runtime: tokio::runtime::Runtime,
    module: jsonrpsee::RpcModule<()>,
    _dir: tempfile::TempDir,
}

fn rpc_node() -> &'static RpcNode {
    static NODE: OnceLock<RpcNode> = OnceLock::new();
    NODE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = Db::open(dir.path()).expect("the database opens");
        let chain = chain().clone();
        let executor = BlockExecutor::open(db.clone(), chain.clone()).expect("genesis");
        let base_fee = chain.genesis.base_fee_per_gas.unwrap_or_default() as u64;
        drop(executor);
        let mempool =
            std::sync::Arc::new(Mempool::new(PoolConfig::default(), db.clone(), chain.clone(), base_fee));
        let ctx = RpcContext {
            db: db.clone(),
            chain,
            mempool,
            blocks: tokio::sync::broadcast::channel(16).0,
            consensus: db.consensus_store(),
            schedule: None,
            p2p: None,
            inbound: flashlayer_consensus::inbox(InboundLimits::default()).0,
            full_node: false,
            started_at: 0,
            settlement: None,
            lifecycle: Lifecycle::new(None, None, None, db),
            sequencers: Vec::new(),
            traces: Default::default(),
            l1_explorer: None,
            series: Default::default(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let module = module(ctx, true).expect("the methods register");
        RpcNode { runtime, module, _dir: dir }
    })
}

/// A JSON-RPC request from a client, through every namespace's parameter parsing and handler
/// (as the server runs it, minus the socket). Bounded in time: a request may not hang.
pub fn jsonrpc(data: &[u8]) {
    let Ok(request) = std::str::from_utf8(data) else { return };
    let node = rpc_node();
    let answered = node.runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), node.module.raw_json_request(request, 1)).await
    });
    assert!(answered.is_ok(), "a JSON-RPC request took over 20 s: {request}");
}

fn signed_eip1559(nonce: u64, input: Vec<u8>) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(Address::repeat_byte(0x11)),
        value: U256::from(1),
        input: input.into(),
        ..Default::default()
    };
    let signature = sender().sign_transaction_sync(&mut tx).expect("signs");
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

fn signed_legacy(nonce: u64) -> Vec<u8> {
    let mut tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(0x22)),
        value: U256::from(5),
        input: Default::default(),
    };
    let signature = sender().sign_transaction_sync(&mut tx).expect("signs");
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

/// Valid inputs for every target (the start of each corpus): real messages, transactions,
/// payloads and requests, so that fuzzing starts deep in each decoder.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();
    let keypair = Keypair::new(validator_key());
    let chain_id = ChainID::new(CHAIN_ID);
    let genesis_pc = PhaseCertificate::genesis_pc();
    let payload = Payload {
        timestamp: 1_700_000_000,
        transactions: vec![signed_eip1559(0, vec![]).into(), signed_legacy(1).into()],
        l1_origin: L1Origin { number: 12, hash: B256::repeat_byte(0xab) },
        deposits: vec![Deposit {
            nonce: 1,
            from: Address::repeat_byte(1),
            to: Address::repeat_byte(2),
            amount: U256::from(10u64).pow(U256::from(18)),
        }],
        end: false,
        membership: Vec::new(),
    };
    let record = LeaderRecord {
        view: 5,
        proposer: B256::from(validator_key().verifying_key().to_bytes()),
        skipped: vec![B256::repeat_byte(4)],
        l1_head: 3,
    };
    let (payload_bytes, record_bytes) = (payload.encode(), record.encode());
    let block = Block::new(
        BlockHeight::new(0),
        genesis_pc.clone(),
        CryptoHash::new(data_hash(&payload_bytes, &record_bytes).0),
        Data::new(vec![Datum::new(payload_bytes.clone()), Datum::new(record_bytes.clone())]),
    );
    let messages: Vec<Message> = vec![
        Message::from(HotStuffMessage::Proposal(Proposal {
            chain_id,
            view: ViewNumber::new(5),
            block: block.clone(),
        })),
        Message::from(HotStuffMessage::PhaseVote(PhaseVote::new(
            &keypair,
            chain_id,
            ViewNumber::new(5),
            block.hash,
            Phase::Generic,
        ))),
        Message::from(PacemakerMessage::timeout_vote(&keypair, chain_id, ViewNumber::new(8), None)),
        Message::from(BlockSyncRequest { chain_id, start_height: BlockHeight::new(0), limit: 64 }),
        Message::from(BlockSyncAdvertiseMessage::advertise_block(&keypair, chain_id, BlockHeight::new(9))),
    ];
    for message in messages {
        seeds.push(("consensus_message", message.try_to_vec().expect("encodes")));
    }
    let txs = [signed_eip1559(0, vec![]), signed_eip1559(1, vec![0xde, 0xad, 0xbe, 0xef]), signed_legacy(2)];
    for tx in &txs {
        seeds.push(("raw_transaction", tx.clone()));
    }
    let batch: Vec<Bytes> = txs.iter().cloned().map(Bytes::from).collect();
    seeds.push(("tx_gossip_batch", alloy::rlp::encode(&batch)));
    let digest = B256::repeat_byte(3);
    let signature = sender().sign_hash_sync(&digest).expect("signs").as_bytes().to_vec();
    let gossip =
        BatchSignature { kind: BATCH, index: 3, signer: sender().address(), signature: signature.into() };
    seeds.push(("settlement_gossip", alloy::rlp::encode(&gossip)));
    seeds.push(("payload", payload_bytes));
    seeds.push(("payload", record_bytes));
    let raw = alloy::hex::encode_prefixed(&txs[0]);
    let address = sender().address();
    for request in [
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#.to_owned(),
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["{address}","latest"]}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["{raw}"]}}"#),
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{{"from":"{address}","to":"0x1111111111111111111111111111111111111111","data":"0x00"}},"latest"]}}"#
        ),
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x0",true]}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"latest"}]}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"flash_status","params":[]}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x5","latest",[10,50]]}"#.to_owned(),
    ] {
        seeds.push(("jsonrpc", request.into_bytes()));
    }
    seeds
}
