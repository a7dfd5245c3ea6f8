//! What a batch costs on L1 in each data-availability mode, at 100 and 1,000 transactions per
//! batch: `cargo bench -p flashlayer-tests --bench da_cost` (needs anvil: `. scripts/env.sh`).
//!
//! For each mode and size it deploys a fresh `FlashLayer` on anvil, builds the batch data of
//! that many signed ETH transfers (500 senders, fresh recipients, the load generator's `eth`
//! workload) spread over 5 blocks, has 3 of 4 signers sign the batch, and submits it the way a
//! node does (`submitBatch`, `submitBatchWithData` with the data, or `submitBatch` in an
//! EIP-4844 transaction whose blobs carry the data). Gas is the receipt's `gasUsed` under
//! anvil's default hardfork, calldata pricing included; blob gas (`blobGasUsed`, 131,072 per
//! blob, priced by its own market) is a separate column. Not a timing benchmark: the figures
//! are deterministic up to the signatures' bytes.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use flashlayer_execution::L1Origin;
use flashlayer_settlement::{
    Batch, EMPTY_MESSAGES_ROOT, SignatureSet,
    bindings::FlashLayer,
    data::{BlockData, DataAvailability, encode},
    domain, sign, signing_hash, threshold_for,
};
use flashlayer_tests::{Anvil, signed_transfer};

/// anvil's dev key 0.
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn random_b256() -> B256 {
    B256::from(rand::random::<[u8; 32]>())
}

/// The batch data of `txs` transfers over `blocks` blocks.
fn batch_data(txs: usize, blocks: u64) -> Vec<u8> {
    let senders: Vec<PrivateKeySigner> = (0..500).map(|_| PrivateKeySigner::random()).collect();
    let mut transactions: Vec<Bytes> = (0..txs)
        .map(|i| {
            signed_transfer(
                &senders[i % 500],
                (i / 500) as u64,
                Address::from(rand::random::<[u8; 20]>()),
                1_000_000_000,
            )
            .1
        })
        .collect();
    let per_block = txs.div_ceil(blocks as usize);
    let blocks: Vec<BlockData> = (1..=blocks)
        .map(|number| BlockData {
            number,
            timestamp: 1_800_000_000 + number,
            consensus_hash: random_b256(),
            l1_origin: L1Origin { number: 100, hash: random_b256() },
            deposits: vec![],
            membership: vec![],
            end: false,
            transactions: transactions.drain(..per_block.min(transactions.len())).collect(),
            hash: random_b256(),
            state_root: random_b256(),
            receipts_root: random_b256(),
        })
        .collect();
    encode(&blocks)
}

#[tokio::main]
async fn main() {
    let anvil = Anvil::start().await;
    let dev: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(dev))
        .connect_http(anvil.rpc_url().parse().unwrap());
    let l1_chain_id = provider.get_chain_id().await.unwrap();
    println!("| mode | tx/batch | data bytes on L1 | bytes/tx | gas/batch | gas/tx | blobs | blob gas/tx |");
    println!("|---|---|---|---|---|---|---|---|");
    for mode in [DataAvailability::Committee, DataAvailability::L1Calldata, DataAvailability::L1Blobs] {
        for txs in [100usize, 1_000] {
            let mut keys: Vec<_> = (0..4).map(|_| PrivateKeySigner::random()).collect();
            keys.sort_by_key(|k| k.address());
            let members: Vec<Address> = keys.iter().map(|k| k.address()).collect();
            let consensus_keys: Vec<B256> = (0..4).map(|_| random_b256()).collect();
            let layer = FlashLayer::deploy(
                &provider,
                members.clone(),
                U256::from(3),
                B256::repeat_byte(0x99),
                0,
                0,
                U256::ZERO,
                consensus_keys,
                mode.contract_mode(),
                FlashLayer::Recourse {
                    genesisStateRoot: B256::repeat_byte(0x98),
                    gracePeriod: 86_400,
                    watchers: Vec::new(),
                },
            )
            .await
            .expect("deploy");
            let data = batch_data(txs, 5);
            let batch = Batch {
                index: 1,
                prevBatchHash: B256::ZERO,
                firstBlock: 1,
                lastBlock: 5,
                lastBlockHash: random_b256(),
                stateRoot: random_b256(),
                txDataHash: mode.commitment(&data).unwrap(),
                messagesRoot: EMPTY_MESSAGES_ROOT,
                lastDepositNonce: 0,
                depositsHash: B256::ZERO,
            };
            let d = domain(l1_chain_id, *layer.address());
            let mut set = SignatureSet::new(signing_hash(&batch, &d), members, threshold_for(4)).unwrap();
            for key in &keys[..3] {
                set.add(key.address(), &sign(&batch, &d, key).unwrap()).unwrap();
            }
            let signatures = set.quorum().expect("quorum");
            let receipt = match mode {
                DataAvailability::Committee => {
                    layer.submitBatch(batch, signatures).send().await.unwrap().get_receipt().await.unwrap()
                }
                DataAvailability::L1Calldata => layer
                    .submitBatchWithData(batch, signatures, data.clone().into())
                    .send()
                    .await
                    .unwrap()
                    .get_receipt()
                    .await
                    .unwrap(),
                DataAvailability::L1Blobs => {
                    let sidecar = alloy::eips::eip4844::builder::SidecarBuilder::<
                        alloy::eips::eip4844::builder::SimpleCoder,
                    >::from_coder_and_data(Default::default(), &data)
                    .build_7594()
                    .unwrap();
                    let blob_fee = provider.get_blob_base_fee().await.unwrap().max(1) * 2;
                    layer
                        .submitBatch(batch, signatures)
                        .sidecar_7594(sidecar)
                        .max_fee_per_blob_gas(blob_fee)
                        .send()
                        .await
                        .unwrap()
                        .get_receipt()
                        .await
                        .unwrap()
                }
            };
            assert!(receipt.status(), "submission reverted: {receipt:?}");
            let gas = receipt.gas_used;
            let blob_gas = receipt.blob_gas_used.unwrap_or_default();
            let blobs = blob_gas / 131_072;
            let posted = if mode == DataAvailability::Committee { 0 } else { data.len() };
            println!(
                "| {mode} | {txs} | {posted} | {:.1} | {gas} | {:.0} | {blobs} | {:.0} |",
                posted as f64 / txs as f64,
                gas as f64 / txs as f64,
                blob_gas as f64 / txs as f64
            );
            if mode == DataAvailability::Committee {
                println!(
                    "|   (kept by operators) | {txs} | {} | {:.1} | - | - | - | - |",
                    data.len(),
                    data.len() as f64 / txs as f64
                );
            }
        }
    }
}
