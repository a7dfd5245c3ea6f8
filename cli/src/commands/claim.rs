//! `flashlayer claim`: pays an account its final L2 balance on L1 once the layer is settled,
//! with the balance proof from a node or from a `dispose --archive` file.

use crate::{
    archive::read_archive_header,
    args::{LayerContract, PrivateKey},
};
use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use clap::Args;
use eyre::{Context, bail, ensure};
use flashlayer_settlement::bindings::FlashLayer;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// `flashlayer claim`'s flags.
#[derive(Debug, Args)]
pub struct ClaimCommand {
    #[command(flatten)]
    layer: LayerContract,
    #[command(flatten)]
    key: PrivateKey,
    /// The account to pay (anyone may claim for anyone; the ETH goes to the account) [default:
    /// the --private-key's address].
    #[arg(long)]
    account: Option<Address>,
    /// A node of the layer (for the proof).
    #[arg(long, conflicts_with = "archive", required_unless_present = "archive")]
    rpc: Option<String>,
    /// An archive written by `flashlayer dispose --archive` (for the proof, once no node runs).
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Seconds to wait for the layer to be settled and its challenge window to pass.
    #[arg(long, default_value_t = 300)]
    wait: u64,
}

impl ClaimCommand {
    /// Claims the balance.
    pub fn execute(self) -> eyre::Result<()> {
        let key = self.key.signer()?;
        let account = self.account.unwrap_or(key.address());
        let source = match (&self.rpc, &self.archive) {
            (Some(rpc), _) => ProofSource::Rpc(rpc),
            (None, Some(path)) => ProofSource::Archive(path),
            (None, None) => bail!("pass --rpc or --archive"),
        };
        super::runtime()?.block_on(claim(
            source,
            &self.layer.l1_rpc,
            self.layer.contract,
            &key,
            account,
            Duration::from_secs(self.wait),
        ))?;
        Ok(())
    }
}

/// Where `claim` takes the proof from.
#[derive(Debug, Clone)]
pub enum ProofSource<'a> {
    /// A node's `flash_claimProof`.
    Rpc(&'a str),
    /// An archive written by `dispose --archive`.
    Archive(&'a Path),
}

/// `flashlayer claim`: pays `account` its final L2 balance on L1 (`FlashLayer.claim`), sent by
/// `payer`; waits up to `wait` for the layer to be settled. Returns the amount.
pub async fn claim(
    source: ProofSource<'_>,
    l1_rpc: &str,
    contract: Address,
    payer: &PrivateKeySigner,
    account: Address,
    wait: Duration,
) -> eyre::Result<U256> {
    let deadline = Instant::now() + wait;
    let url = l1_rpc.parse().wrap_err_with(|| format!("L1 RPC URL {l1_rpc:?}"))?;
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(payer.clone())).connect_http(url);
    let layer = FlashLayer::new(contract, provider);
    while !layer.settled().call().await.wrap_err("reading the layer contract")? {
        ensure!(Instant::now() < deadline, "the layer is not settled on L1 after {} s", wait.as_secs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (balance, recipient, proof) = match source {
        ProofSource::Rpc(rpc) => {
            use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
            let client = HttpClientBuilder::default().build(rpc)?;
            let proof: Option<flashlayer_node::rpc::misc::ClaimProofView> =
                client.request("flash_claimProof", rpc_params![account]).await?;
            let proof = proof.ok_or_else(|| eyre::eyre!("{account} has nothing to claim"))?;
            (proof.balance, proof.recipient, proof.proof)
        }
        ProofSource::Archive(path) => {
            let header = read_archive_header(path)?;
            let proof = header
                .balances
                .proof_of(account)
                .ok_or_else(|| eyre::eyre!("{account} has nothing to claim"))?;
            (proof.balance, proof.recipient, proof.proof)
        }
    };
    let root = layer.balancesRoot().call().await?;
    // An account that named an L1 recipient on L2 is paid there (claimTo), never to itself.
    let call = match recipient {
        Some(to) => layer.claimTo(account, balance, to, proof).clear_decoder(),
        None => layer.claim(account, balance, proof).clear_decoder(),
    };
    loop {
        match call.call().await {
            Ok(_) => break,
            Err(e) => match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
                Some(FlashLayer::FlashLayerErrors::ClaimWindowOpen(w)) if Instant::now() < deadline => {
                    tracing::debug!(claimable_at = %w.claimableAt, "waiting for the challenge window");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Some(FlashLayer::FlashLayerErrors::AlreadyClaimed(_)) => {
                    bail!("{account}'s balance was already claimed")
                }
                Some(FlashLayer::FlashLayerErrors::InvalidBalanceProof(_)) => {
                    bail!("the proof of {account}'s balance does not match the layer's balances root {root}")
                }
                Some(other) => bail!("the layer contract refuses the claim: {other:?}"),
                None => bail!("claim simulation failed: {e}"),
            },
        }
    }
    let receipt = call.send().await?.get_receipt().await?;
    ensure!(receipt.status(), "claim transaction {} reverted", receipt.transaction_hash);
    println!(
        "claimed {} ETH ({balance} wei) on L1 for {account}{}: tx {}",
        alloy::primitives::utils::format_ether(balance),
        recipient.map(|to| format!(", paid to its named recipient {to}")).unwrap_or_default(),
        receipt.transaction_hash
    );
    Ok(balance)
}
