//! `flashlayer bridge`: moving ETH between L1 and a layer, for users and scripts.
//!
//! - `deposit`: `FlashLayer.deposit(to)` on L1; the cluster credits `to` on L2 once the L1
//!   block is confirmed.
//! - `withdraw`: `L2MessagePasser.withdraw(to)` on L2: an L2->L1 message paying `to` on L1.
//! - `relay`: waits until the message's batch is accepted on L1, then proves and relays it
//!   (`FlashLayer.relayMessage`), which pays out the withdrawal.
//! - `refund`: after the layer settled, pays back a deposit it never credited
//!   (`FlashLayer.refundDeposit`).

use crate::{
    args::{LayerContract, PrivateKey, ether},
    l1::{simulate_and_send, wallet},
};
use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use clap::Subcommand;
use eyre::{Context, bail};
use flashlayer_execution::messages::{L2_MESSAGE_PASSER, MessageSent};
use flashlayer_settlement::bindings::{FlashLayer, L2MessagePasser};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::time::{Duration, Instant};

/// `flashlayer bridge` subcommands.
#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Deposit ETH on L1; it is credited on the layer once the L1 block is confirmed.
    Deposit {
        /// The layer's contract and its L1.
        #[command(flatten)]
        layer: LayerContract,
        /// The paying key.
        #[command(flatten)]
        key: PrivateKey,
        /// L2 recipient (default: the payer's address).
        #[arg(long)]
        to: Option<Address>,
        /// Amount in ETH (decimal, e.g. 0.5).
        #[arg(long)]
        amount: String,
    },
    /// Start a withdrawal on the layer (an L2->L1 message); relay it once its batch lands.
    Withdraw {
        /// The layer's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// The paying key.
        #[command(flatten)]
        key: PrivateKey,
        /// L1 recipient (default: the payer's address).
        #[arg(long)]
        to: Option<Address>,
        /// Amount in ETH (decimal).
        #[arg(long)]
        amount: String,
    },
    /// Relay an L2->L1 message (a withdrawal) on L1 once its batch is accepted there.
    Relay {
        /// The layer's JSON-RPC URL (for the proof).
        #[arg(long)]
        rpc: String,
        /// The layer's contract and its L1.
        #[command(flatten)]
        layer: LayerContract,
        /// The paying key.
        #[command(flatten)]
        key: PrivateKey,
        /// Message hash (as `bridge withdraw` printed it).
        #[arg(long)]
        message: B256,
        /// Seconds to wait for the batch to be accepted.
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// Pay back a deposit the layer never credited (made after the last one of its final
    /// batch, or of the escape batch once the escape is open).
    Refund {
        /// The layer's contract and its L1.
        #[command(flatten)]
        layer: LayerContract,
        /// The paying key.
        #[command(flatten)]
        key: PrivateKey,
        /// The deposit's nonce (as `bridge deposit` printed it).
        #[arg(long)]
        nonce: u64,
    },
}

impl BridgeCommand {
    /// Runs the subcommand.
    pub fn execute(self) -> eyre::Result<()> {
        let rt = super::runtime()?;
        match self {
            Self::Deposit { layer, key, to, amount } => {
                let key = key.signer()?;
                let to = to.unwrap_or(key.address());
                rt.block_on(deposit(&layer.l1_rpc, layer.contract, &key, to, ether(&amount)?))?;
            }
            Self::Withdraw { rpc, key, to, amount } => {
                let key = key.signer()?;
                let to = to.unwrap_or(key.address());
                rt.block_on(withdraw(&rpc, &key, to, ether(&amount)?))?;
            }
            Self::Refund { layer, key, nonce } => {
                rt.block_on(refund(&layer.l1_rpc, layer.contract, &key.signer()?, nonce))?;
            }
            Self::Relay { rpc, layer, key, message, wait } => {
                rt.block_on(relay(
                    &rpc,
                    &layer.l1_rpc,
                    layer.contract,
                    &key.signer()?,
                    message,
                    Duration::from_secs(wait),
                ))?;
            }
        }
        Ok(())
    }
}

/// Deposits `amount` wei on L1 for `to` on L2; returns the deposit nonce.
pub async fn deposit(
    l1_rpc: &str,
    contract: Address,
    key: &PrivateKeySigner,
    to: Address,
    amount: U256,
) -> eyre::Result<u64> {
    let provider = wallet(l1_rpc, key)?;
    let layer = FlashLayer::new(contract, provider);
    let receipt = layer.deposit(to).value(amount).send().await?.get_receipt().await?;
    if !receipt.status() {
        bail!("deposit transaction {} reverted", receipt.transaction_hash);
    }
    let nonce = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| FlashLayer::Deposit::decode_log(&log.inner).ok())
        .map(|event| event.nonce)
        .ok_or_else(|| eyre::eyre!("no Deposit event in {}", receipt.transaction_hash))?;
    println!("deposited {amount} wei for {to}: L1 tx {}, deposit nonce {nonce}", receipt.transaction_hash);
    Ok(nonce)
}

/// Starts a withdrawal of `amount` wei to `to` on L1; returns the message hash to relay.
pub async fn withdraw(rpc: &str, key: &PrivateKeySigner, to: Address, amount: U256) -> eyre::Result<B256> {
    let provider = wallet(rpc, key)?;
    let passer = L2MessagePasser::new(L2_MESSAGE_PASSER, provider);
    let receipt = passer.withdraw(to).value(amount).send().await?.get_receipt().await?;
    if !receipt.status() {
        bail!("withdrawal transaction {} reverted", receipt.transaction_hash);
    }
    let hash = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| MessageSent::decode_log(&log.inner).ok())
        .map(|event| event.messageHash)
        .ok_or_else(|| eyre::eyre!("no MessageSent event in {}", receipt.transaction_hash))?;
    println!(
        "withdrawal of {amount} wei to {to} started: L2 tx {}, message {hash}",
        receipt.transaction_hash
    );
    println!("relay it once its batch lands: flashlayer bridge relay --message {hash} ...");
    Ok(hash)
}

/// `flash_messageProof` as the node returns it.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    batch_index: u64,
    nonce: U256,
    sender: Address,
    target: Address,
    value: U256,
    data: alloy::primitives::Bytes,
    proof: Vec<B256>,
    accepted: bool,
}

/// Waits (up to `wait`) for the message's batch to be accepted on L1, then relays it; returns
/// the L1 transaction.
pub async fn relay(
    rpc: &str,
    l1_rpc: &str,
    contract: Address,
    key: &PrivateKeySigner,
    message: B256,
    wait: Duration,
) -> eyre::Result<B256> {
    let client = HttpClientBuilder::default().build(rpc)?;
    let deadline = Instant::now() + wait;
    let proof = loop {
        let proof: Option<Proof> = client.request("flash_messageProof", rpc_params![message]).await?;
        match proof {
            Some(proof) if proof.accepted => break proof,
            _ if Instant::now() > deadline => {
                bail!("message {message} is not in an accepted batch after {} s", wait.as_secs())
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let provider = wallet(l1_rpc, key)?;
    let layer = FlashLayer::new(contract, provider);
    let call = layer
        .relayMessage(
            proof.batch_index,
            proof.nonce,
            proof.sender,
            proof.target,
            proof.value,
            proof.data,
            proof.proof,
        )
        .clear_decoder();
    let tx = simulate_and_send(call, "relay", |e| match e {
        FlashLayer::FlashLayerErrors::AlreadyRelayed(_) => {
            Some(format!("message {message} was already relayed"))
        }
        _ => None,
    })
    .await?;
    println!(
        "relayed message {message} (batch {}): L1 tx {tx}, {} wei to {}",
        proof.batch_index, proof.value, proof.target
    );
    Ok(tx)
}

/// Pays back deposit `nonce` to its sender once the layer is settled without having credited
/// it (`FlashLayer.refundDeposit`); the deposit's fields come from its `Deposit` event.
pub async fn refund(
    l1_rpc: &str,
    contract: Address,
    key: &PrivateKeySigner,
    nonce: u64,
) -> eyre::Result<B256> {
    let provider = wallet(l1_rpc, key)?;
    let filter = alloy::rpc::types::Filter::new()
        .address(contract)
        .event_signature(FlashLayer::Deposit::SIGNATURE_HASH)
        .topic1(B256::from(U256::from(nonce)))
        .from_block(0);
    let logs = provider.get_logs(&filter).await.wrap_err("reading Deposit events")?;
    let deposit = logs
        .iter()
        .find_map(|log| FlashLayer::Deposit::decode_log(&log.inner).ok())
        .ok_or_else(|| eyre::eyre!("no deposit with nonce {nonce} on the layer contract {contract}"))?;
    let layer = FlashLayer::new(contract, provider);
    let call = layer.refundDeposit(nonce, deposit.from, deposit.to, deposit.amount).clear_decoder();
    let tx = simulate_and_send(call, "refund", |e| match e {
        FlashLayer::FlashLayerErrors::NotSettled(_) => Some(
            "the layer is not settled yet: deposits are refunded only after its final batch (or once the escape opens)"
                .into(),
        ),
        FlashLayer::FlashLayerErrors::EscapeNotOpen(e) => Some(format!(
            "the layer was disputed: deposits after the escape batch are refunded once the escape opens, at L1 time {}",
            e.opensAt
        )),
        FlashLayer::FlashLayerErrors::NotRefundable(_) => Some(format!(
            "deposit {nonce} is not refundable: the layer credited it on L2 (claim or escape with the balance instead), or it was refunded already"
        )),
        _ => None,
    })
    .await?;
    println!("refunded deposit {nonce}: {} wei back to {}, L1 tx {tx}", deposit.amount, deposit.from);
    Ok(tx)
}
