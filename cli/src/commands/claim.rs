//! `flashlayer claim`: pays an account its final L2 balance on L1 once the layer is settled,
//! with the balance proof from a node or from a `dispose --archive` file; with `--escape`, its
//! balance in the last undisputed batch once the committee failed (a batch disputed, or no
//! final batch within the grace period), with a Merkle-Patricia account proof from a node's
//! `eth_getProof`, a `verify --proofs-at` file or an archive re-executed on the spot.

use crate::{
    archive::read_archive_header,
    args::{LayerContract, PrivateKey},
};
use alloy::{
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
    #[arg(long, conflicts_with_all = ["archive", "proofs"], required_unless_present_any = ["archive", "proofs"])]
    rpc: Option<String>,
    /// An archive written by `flashlayer dispose --archive` (for the proof, once no node runs;
    /// with --escape it is re-executed up to the escape batch, which needs --layer-less
    /// `flashlayer verify` to succeed on it).
    #[arg(long, conflicts_with = "proofs")]
    archive: Option<PathBuf>,
    /// Escape: take the account's ETH balance in the last undisputed batch (the contract's
    /// `escapeStatus`), once a batch was disputed or no final batch landed within the grace
    /// period. An L2 contract's balance goes to the L1 recipient it named on L2.
    #[arg(long)]
    escape: bool,
    /// With --escape: a file written by `flashlayer verify --proofs-at N` for the escape batch.
    #[arg(long, requires = "escape")]
    proofs: Option<PathBuf>,
    /// With --escape and --archive: the L1 JSON-RPC the archive's batches are checked against
    /// is --l1-rpc; this is the directory for the rebuilt chain (default: a temporary one).
    #[arg(long, requires = "archive")]
    datadir: Option<PathBuf>,
    /// Seconds to wait for the layer to be settled and its challenge window to pass.
    #[arg(long, default_value_t = 300)]
    wait: u64,
}

impl ClaimCommand {
    /// Claims the balance.
    pub fn execute(self) -> eyre::Result<()> {
        let key = self.key.signer()?;
        let account = self.account.unwrap_or(key.address());
        if self.escape {
            let source = match (&self.rpc, &self.archive, &self.proofs) {
                (Some(rpc), _, _) => EscapeSource::Rpc(rpc.clone()),
                (None, Some(archive), _) => EscapeSource::Archive(archive.clone(), self.datadir.clone()),
                (None, None, Some(proofs)) => EscapeSource::Proofs(proofs.clone()),
                (None, None, None) => bail!("pass --rpc, --proofs or --archive"),
            };
            super::runtime()?.block_on(escape(
                source,
                &self.layer.l1_rpc,
                self.layer.contract,
                &key,
                account,
                Duration::from_secs(self.wait),
            ))?;
            return Ok(());
        }
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
    let layer = FlashLayer::new(contract, crate::l1::wallet(l1_rpc, payer)?);
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

/// Where `claim --escape` takes the account proof from.
#[derive(Debug, Clone)]
pub enum EscapeSource {
    /// A node's `eth_getProof` at the escape batch's last block (nodes keep the state of every
    /// batch boundary for the layer's life).
    Rpc(String),
    /// A `verify --proofs-at N` file for the escape batch.
    Proofs(PathBuf),
    /// A `dispose --archive` file, re-executed up to the escape batch (and where to).
    Archive(PathBuf, Option<PathBuf>),
}

/// An account as the escape batch's state holds it, with its proof, and the L1 recipient an L2
/// contract named with the proofs that show it.
struct EscapeProof {
    balance: U256,
    has_code: bool,
    proof: Vec<alloy::primitives::Bytes>,
    /// (recipient, L2MessagePasser account proof, the recipient slot's storage proof).
    recipient: Option<(Address, Vec<alloy::primitives::Bytes>, Vec<alloy::primitives::Bytes>)>,
}

/// `flashlayer claim --escape`: pays `account` its ETH balance in the escape batch's state
/// (`FlashLayer.escape`, or `escapeTo` for an L2 contract that named an L1 recipient), sent by
/// `payer`; waits up to `wait` for the escape to open. Returns the amount.
pub async fn escape(
    source: EscapeSource,
    l1_rpc: &str,
    contract: Address,
    payer: &PrivateKeySigner,
    account: Address,
    wait: Duration,
) -> eyre::Result<U256> {
    let deadline = Instant::now() + wait;
    let layer = FlashLayer::new(contract, crate::l1::wallet(l1_rpc, payer)?);
    let status = loop {
        let status =
            layer.escapeStatus().call().await.wrap_err("reading the layer contract's escape status")?;
        if status.open {
            break status;
        }
        ensure!(
            status.opensAt != U256::MAX,
            "the layer settled undisputed: there is no escape, claim the final balance instead (flashlayer claim without --escape)"
        );
        if Instant::now() >= deadline {
            bail!(
                "the escape is not open: it opens at L1 time {} against batch {} (waited {} s; raise --wait)",
                status.opensAt,
                status.index,
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let index = status.index;
    let record = layer.batch(index).call().await?;
    eprintln!(
        "claim: the escape is open against batch {index} (L2 block {}, state root {})",
        record.lastBlock, record.stateRoot
    );
    let found = match &source {
        EscapeSource::Rpc(rpc) => proof_from_node(rpc, account, record.lastBlock).await?,
        EscapeSource::Proofs(path) => proof_from_file(path, account, index, record.stateRoot)?,
        EscapeSource::Archive(archive, datadir) => {
            let out = tempfile::Builder::new().prefix("flashlayer-escape-").tempdir()?;
            let file = out.path().join("proofs.jsonl");
            super::verify::proofs_from_archive(l1_rpc, archive, datadir.clone(), index, &file).await?;
            proof_from_file(&file, account, index, record.stateRoot)?
        }
    };
    ensure!(!found.balance.is_zero(), "{account} holds no ETH in batch {index}'s state: nothing to escape");
    let call = match (&found.recipient, found.has_code) {
        (Some((to, passer, slot)), _) => {
            layer.escapeTo(account, *to, found.proof.clone(), passer.clone(), slot.clone()).clear_decoder()
        }
        (None, false) => layer.escape(account, found.proof.clone()).clear_decoder(),
        (None, true) => bail!(
            "{account} is an L2 contract that named no L1 recipient (L2MessagePasser.setClaimRecipient) by batch {index}: its {} wei cannot escape (its address on L1 is nobody's)",
            found.balance
        ),
    };
    if let Err(e) = call.call().await {
        match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
            Some(FlashLayer::FlashLayerErrors::AlreadyClaimed(_)) => {
                bail!("{account} was already paid (claimed or escaped)")
            }
            Some(FlashLayer::FlashLayerErrors::InvalidAccountProof(p)) => bail!(
                "the proof of {account} does not lead to batch {index}'s state root {} ({:?}): the source serves another state",
                record.stateRoot,
                p.reason
            ),
            Some(other) => bail!("the layer contract refuses the escape: {other:?}"),
            None => bail!("escape simulation failed: {e}"),
        }
    }
    let receipt = call.send().await?.get_receipt().await?;
    ensure!(receipt.status(), "escape transaction {} reverted", receipt.transaction_hash);
    println!(
        "escaped with {} ETH ({} wei) on L1 for {account}, its balance in batch {index}{}: tx {} (gas {})",
        alloy::primitives::utils::format_ether(found.balance),
        found.balance,
        found
            .recipient
            .as_ref()
            .map(|(to, _, _)| format!(", paid to its named recipient {to}"))
            .unwrap_or_default(),
        receipt.transaction_hash,
        receipt.gas_used
    );
    Ok(found.balance)
}

/// The account's proof at L2 block `block` from a node, and for a contract the recipient it
/// named (the L2MessagePasser's `claimRecipientOf` slot).
async fn proof_from_node(rpc: &str, account: Address, block: u64) -> eyre::Result<EscapeProof> {
    use alloy::providers::Provider;
    use flashlayer_execution::messages::L2_MESSAGE_PASSER;
    let url = rpc.parse().wrap_err_with(|| format!("node RPC URL {rpc:?}"))?;
    let node = ProviderBuilder::new().connect_http(url);
    let at = alloy::eips::BlockId::number(block);
    let proof = node.get_proof(account, vec![]).block_id(at).await.wrap_err_with(|| {
        format!("eth_getProof of {account} at L2 block {block} from {rpc} (the escape batch's last block)")
    })?;
    let has_code = proof.code_hash != alloy_trie::KECCAK_EMPTY && !proof.code_hash.is_zero();
    let recipient = if has_code {
        use alloy::sol_types::SolValue;
        // `claimRecipientOf` is the mapping at slot 1, keyed by the hashed address.
        let slot = alloy::primitives::keccak256(
            (alloy::primitives::keccak256(account), U256::from(1)).abi_encode_params(),
        );
        let passer = node.get_proof(L2_MESSAGE_PASSER, vec![slot]).block_id(at).await?;
        let named = passer.storage_proof.first().map(|p| p.value).unwrap_or_default();
        (!named.is_zero()).then(|| {
            (
                Address::from_word(named.into()),
                passer.account_proof.clone(),
                passer.storage_proof[0].proof.clone(),
            )
        })
    } else {
        None
    };
    Ok(EscapeProof { balance: proof.balance, has_code, proof: proof.account_proof, recipient })
}

/// The account's proof from a `verify --proofs-at` file, which must be for batch `index` with
/// state root `root`.
fn proof_from_file(
    path: &Path,
    account: Address,
    index: u64,
    root: alloy::primitives::B256,
) -> eyre::Result<EscapeProof> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).wrap_err_with(|| format!("opening {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header: serde_json::Value =
        serde_json::from_str(&lines.next().ok_or_else(|| eyre::eyre!("{} is empty", path.display()))??)
            .wrap_err_with(|| {
                format!("{}: the first line is not a verify --proofs-at header", path.display())
            })?;
    let (batch, state_root) = (header["batch"].as_u64(), header["stateRoot"].as_str());
    ensure!(
        batch == Some(index) && state_root.and_then(|r| r.parse().ok()) == Some(root),
        "{} holds proofs at batch {} (state root {}); the escape proves against batch {index} (state root {root}): run flashlayer verify --proofs-at {index}",
        path.display(),
        batch.map_or("?".into(), |b| b.to_string()),
        state_root.unwrap_or("?")
    );
    let hashed = alloy::primitives::keccak256(account);
    for line in lines {
        let line: serde_json::Value = serde_json::from_str(&line?)?;
        if line["hashedAddress"].as_str().and_then(|h| h.parse().ok()) != Some(hashed) {
            continue;
        }
        let code_hash: alloy::primitives::B256 =
            line["codeHash"].as_str().and_then(|h| h.parse().ok()).unwrap_or_default();
        let has_code = code_hash != alloy_trie::KECCAK_EMPTY;
        ensure!(
            !has_code,
            "{account} is an L2 contract: its escape (escapeTo) needs the recipient it named, which a proofs file does not hold; use --rpc with a node"
        );
        return Ok(EscapeProof {
            balance: serde_json::from_value(line["balance"].clone())?,
            has_code,
            proof: serde_json::from_value(line["accountProof"].clone())?,
            recipient: None,
        });
    }
    bail!("{account} is not in batch {index}'s state ({}): nothing to escape", path.display())
}
