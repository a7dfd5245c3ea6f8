//! Executor throughput: blocks of ETH transfers and of ERC-20 transfers through
//! `BlockExecutor::execute` on RocksDB, with senders already known (as when the mempool
//! recovered them) and with recovery inside the block.
//!
//! Run by `scripts/bench` (`cargo bench -p flashlayer-execution --bench executor`). Needs the
//! TestToken artifact from `forge build` in contracts/. Prints medians over the measured blocks.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::SignerRecoverable},
    eips::eip2718::Encodable2718,
    genesis::{Genesis, GenesisAccount},
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256},
    signers::local::PrivateKeySigner,
    sol,
    sol_types::{SolCall, SolConstructor},
};
use flashlayer_execution::{BlockExecutor, ChainConfig, FeeMode, Payload};
use flashlayer_storage::Db;
use std::{collections::HashMap, time::Instant};

sol! {
    contract TestToken {
        constructor(string name, string symbol, uint256 initialSupply);
        function transfer(address to, uint256 amount) external returns (bool);
    }
}

const SENDERS: usize = 2_000;
const BLOCKS: usize = 12;

fn signer(i: usize) -> PrivateKeySigner {
    let mut key = [0u8; 32];
    key[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    PrivateKeySigner::from_bytes(&B256::from(key)).expect("valid key")
}

fn sign(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
) -> (Bytes, TxEnvelope) {
    let mut tx = TxEip1559 {
        chain_id: 13370,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1,
        to,
        value,
        input,
        ..Default::default()
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    let envelope = TxEnvelope::from(tx.into_signed(sig));
    (envelope.encoded_2718().into(), envelope)
}

fn chain(senders: &[PrivateKeySigner]) -> ChainConfig {
    let alloc = senders
        .iter()
        .map(|s| (s.address(), GenesisAccount::default().with_balance(U256::from(10u128.pow(24)))))
        .collect();
    let mut genesis = Genesis {
        gas_limit: 1_000_000_000,
        base_fee_per_gas: Some(1_000_000_000),
        alloc,
        ..Default::default()
    };
    genesis.config.chain_id = 13370;
    ChainConfig {
        chain_id: 13370,
        fee_mode: FeeMode::Eip1559,
        fee_recipient: Address::ZERO,
        genesis,
        alloc_file: None,
        alloc_dropped: None,
    }
}

fn token_initcode() -> Bytes {
    let artifact = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contracts/out/TestToken.sol/TestToken.json");
    let text = std::fs::read_to_string(&artifact).unwrap_or_else(|e| {
        panic!("{}: {e}; run `forge build` in contracts/ (scripts/bench does)", artifact.display())
    });
    let json: serde_json::Value = serde_json::from_str(&text).expect("artifact JSON");
    let code = hex_decode(json["bytecode"]["object"].as_str().expect("bytecode"));
    let args = TestToken::constructorCall {
        name: "Bench".into(),
        symbol: "BNC".into(),
        initialSupply: U256::from(10u128.pow(30)),
    }
    .abi_encode();
    [code, args].concat().into()
}

fn hex_decode(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

struct Run {
    executor: BlockExecutor,
    _dir: tempfile::TempDir,
}

impl Run {
    fn new(senders: &[PrivateKeySigner]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path()).expect("open db");
        let executor = BlockExecutor::open(db, chain(senders)).expect("genesis");
        Self { executor, _dir: dir }
    }

    fn block(&mut self, txs: Vec<(Bytes, TxEnvelope)>, senders_known: bool) -> f64 {
        let known: HashMap<B256, Address> = if senders_known {
            txs.iter().map(|(_, tx)| (*tx.tx_hash(), tx.recover_signer().expect("valid"))).collect()
        } else {
            HashMap::new()
        };
        let count = txs.len();
        let payload = Payload {
            timestamp: self.executor.head().timestamp + 1,
            transactions: txs.into_iter().map(|t| t.0).collect(),
            ..Default::default()
        };
        let started = Instant::now();
        let executed = self
            .executor
            .execute(&payload, B256::ZERO, &|hash: &B256| known.get(hash).copied())
            .expect("execute");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(executed.block.transactions.len(), count, "skipped: {:?}", executed.skipped.first());
        count as f64 / secs
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    xs[xs.len() / 2]
}

fn main() {
    let senders: Vec<PrivateKeySigner> = (0..SENDERS).map(signer).collect();
    let recipients: Vec<Address> =
        (0..SENDERS).map(|i| Address::left_padding_from(&(i as u64 + 1_000_000).to_be_bytes())).collect();
    println!(
        "executor bench: {BLOCKS} blocks of ~{SENDERS} transactions (one per sender), RocksDB in a temp dir"
    );

    // ETH transfers.
    for senders_known in [true, false] {
        let mut run = Run::new(&senders);
        let mut rates = Vec::new();
        for b in 0..BLOCKS {
            let txs = (0..SENDERS)
                .map(|i| {
                    sign(
                        &senders[i],
                        b as u64,
                        TxKind::Call(recipients[i]),
                        U256::from(1),
                        Bytes::new(),
                        21_000,
                    )
                })
                .collect();
            rates.push(run.block(txs, senders_known));
        }
        println!(
            "  ETH transfers    (senders {}): median {:>8.0} tx/s  (min {:.0}, max {:.0})",
            if senders_known { "known    " } else { "recovered" },
            median(rates.clone()),
            rates.iter().cloned().fold(f64::MAX, f64::min),
            rates.iter().cloned().fold(0.0, f64::max)
        );
    }

    // ERC-20 transfers: deploy, hand every sender tokens, then measure sender -> recipient.
    for senders_known in [true, false] {
        let mut run = Run::new(&senders);
        let deployer = &senders[0];
        let token = deployer.address().create(0);
        run.block(vec![sign(deployer, 0, TxKind::Create, U256::ZERO, token_initcode(), 3_000_000)], true);
        let fund: Vec<_> = (1..SENDERS)
            .map(|i| {
                let data =
                    TestToken::transferCall { to: senders[i].address(), amount: U256::from(10u128.pow(24)) }
                        .abi_encode();
                sign(deployer, i as u64, TxKind::Call(token), U256::ZERO, data.into(), 100_000)
            })
            .collect();
        run.block(fund, true);
        let mut rates = Vec::new();
        for b in 0..BLOCKS {
            let txs = (1..SENDERS)
                .map(|i| {
                    let data =
                        TestToken::transferCall { to: recipients[i], amount: U256::from(1) }.abi_encode();
                    sign(&senders[i], b as u64, TxKind::Call(token), U256::ZERO, data.into(), 100_000)
                })
                .collect();
            rates.push(run.block(txs, senders_known));
        }
        println!(
            "  ERC-20 transfers (senders {}): median {:>8.0} tx/s  (min {:.0}, max {:.0})",
            if senders_known { "known    " } else { "recovered" },
            median(rates.clone()),
            rates.iter().cloned().fold(f64::MAX, f64::min),
            rates.iter().cloned().fold(0.0, f64::max)
        );
    }
}
