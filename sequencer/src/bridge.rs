//! `flashlayer bridge`: moving ETH between L1 and a layer, for users and scripts.
//!
//! - `deposit`: `FlashLayer.deposit(to)` on L1; the cluster credits `to` on L2 once the L1
//!   block is confirmed.
//! - `withdraw`: `L2MessagePasser.withdraw(to)` on L2: an L2->L1 message paying `to` on L1.
//! - `relay`: waits until the message's batch is accepted on L1, then proves and relays it
//!   (`FlashLayer.relayMessage`), which pays out the withdrawal.
//! - `refund`: after the layer settled, pays back a deposit it never credited
//!   (`FlashLayer.refundDeposit`).

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use eyre::{Context, bail};
use flashlayer_execution::messages::{L2_MESSAGE_PASSER, MessageSent};
use flashlayer_settlement::bindings::{FlashLayer, L2MessagePasser};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::time::{Duration, Instant};

fn wallet(url: &str, key: &PrivateKeySigner) -> eyre::Result<impl Provider + Clone> {
    let url = url.parse().wrap_err_with(|| format!("RPC URL {url:?}"))?;
    Ok(ProviderBuilder::new().wallet(EthereumWallet::from(key.clone())).connect_http(url))
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
        FlashLayer::FlashLayerErrors::NotSettled(_) => {
            Some("the layer is not settled yet: deposits are refunded only after its final batch".into())
        }
        FlashLayer::FlashLayerErrors::NotRefundable(_) => Some(format!(
            "deposit {nonce} is not refundable: the layer credited it on L2 (claim the balance instead), or it was refunded already"
        )),
        _ => None,
    })
    .await?;
    println!("refunded deposit {nonce}: {} wei back to {}, L1 tx {tx}", deposit.amount, deposit.from);
    Ok(tx)
}

/// A refused membership call in the operator's words.
fn membership_refusal(e: &FlashLayer::FlashLayerErrors) -> Option<String> {
    use FlashLayer::FlashLayerErrors as E;
    Some(match e {
        E::AlreadyMember(x) => format!("{} is already in the signer set", x.operator),
        E::JoinPending(x) => format!("{} already has a join request pending", x.operator),
        E::JoinApproved(x) => {
            format!("{}'s join is approved and waits for the cluster to apply it", x.operator)
        }
        E::NoJoinRequest(x) => format!("{} has not asked to join (requestJoin)", x.operator),
        E::NotOwner(x) => format!("only the layer's owner may do this, not {}", x.caller),
        E::LayerClosing(_) => "the layer is closing or closed".into(),
        E::LayerSettled(_) => "the layer is settled".into(),
        _ => return None,
    })
}

/// Simulates `call` against the latest L1 state, so that a refusal is reported with the
/// contract's reason (in words where `explain` knows them) and nothing is sent; then sends it
/// and waits for a successful receipt. `what` names the call in errors.
async fn simulate_and_send<P: Provider>(
    call: alloy::contract::CallBuilder<P, (), alloy::network::Ethereum>,
    what: &str,
    explain: impl Fn(&FlashLayer::FlashLayerErrors) -> Option<String>,
) -> eyre::Result<B256> {
    if let Err(e) = call.call().await {
        match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
            Some(refusal) => match explain(&refusal) {
                Some(words) => bail!("{what}: {words}"),
                None => bail!("the layer contract refuses the {what}: {refusal:?}"),
            },
            None => bail!("{what} simulation failed: {e}"),
        }
    }
    let receipt = call.send().await?.get_receipt().await?;
    if !receipt.status() {
        bail!("{what} transaction {} reverted", receipt.transaction_hash);
    }
    Ok(receipt.transaction_hash)
}

/// An operator asks to join the layer's sequencer set (`FlashLayer.requestJoin`), sent from
/// its settlement key so that the contract knows it holds it.
pub async fn request_join(
    l1_rpc: &str,
    contract: Address,
    settlement: &PrivateKeySigner,
    consensus_key: B256,
) -> eyre::Result<B256> {
    let layer = FlashLayer::new(contract, wallet(l1_rpc, settlement)?);
    let tx = simulate_and_send(
        layer.requestJoin(consensus_key).clear_decoder(),
        "requestJoin",
        membership_refusal,
    )
    .await?;
    println!(
        "asked to join as {} (consensus key {consensus_key}): L1 tx {tx}; the owner approves with `flashlayer membership approve --operator {}`",
        settlement.address(),
        settlement.address()
    );
    Ok(tx)
}

/// The owner approves an operator's join request (`FlashLayer.approveJoin`).
pub async fn approve_join(
    l1_rpc: &str,
    contract: Address,
    owner: &PrivateKeySigner,
    operator: Address,
) -> eyre::Result<B256> {
    let layer = FlashLayer::new(contract, wallet(l1_rpc, owner)?);
    let tx =
        simulate_and_send(layer.approveJoin(operator).clear_decoder(), "approveJoin", membership_refusal)
            .await?;
    println!("approved {operator} to join: L1 tx {tx}; the cluster applies it at its next batch boundary");
    Ok(tx)
}

/// An operator (or the owner) announces the operator's departure (`FlashLayer.requestLeave`).
pub async fn request_leave(
    l1_rpc: &str,
    contract: Address,
    key: &PrivateKeySigner,
    operator: Address,
) -> eyre::Result<B256> {
    let layer = FlashLayer::new(contract, wallet(l1_rpc, key)?);
    let tx =
        simulate_and_send(layer.requestLeave(operator).clear_decoder(), "requestLeave", membership_refusal)
            .await?;
    println!("{operator} leaves: L1 tx {tx}; the cluster applies it at its next batch boundary");
    Ok(tx)
}
