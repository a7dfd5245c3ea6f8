//! End of a node's part in a layer: `flashlayer claim` (an account's final balance on L1) and
//! `flashlayer dispose` (stop the node, optionally archive the chain, delete its data).
//!
//! The archive is JSON Lines: a first line with the layer description, the final batch's
//! balances (every claimable account, so claims work without any node) and the head; then one
//! line per block, `{"number", "hash", "block", "receipts"}` with the block and its receipts
//! in their canonical encodings (RLP block, EIP-2718 receipts), hex.

use crate::{layer::LayerDescription, node::PID_FILE};
use alloy::{
    eips::{BlockNumberOrTag, eip2718::Encodable2718},
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use eyre::{Context, bail, ensure};
use flashlayer_settlement::{balances::FinalBalances, bindings::FlashLayer};
use flashlayer_storage::Db;
use serde::{Deserialize, Serialize};
use std::{
    io::{BufRead, Write},
    path::Path,
    time::{Duration, Instant},
};

/// The archive's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveHeader {
    /// Format marker.
    pub format: String,
    /// The layer.
    pub layer: LayerDescription,
    /// The executed head.
    pub head: u64,
    /// The final balances (claimable on L1).
    pub balances: FinalBalances,
}

/// One block line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedBlock {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// RLP of the block (header, transactions, no ommers).
    pub block: Bytes,
    /// EIP-2718 receipts.
    pub receipts: Vec<Bytes>,
}

const ARCHIVE_FORMAT: &str = "flashlayer-archive/1";

/// Whether the layer's final batch is accepted on L1 as of the L1 `finalized` block
/// (`finalized`) and as of the latest block.
async fn settled_on_l1(l1_rpc: &str, contract: Address) -> eyre::Result<(bool, bool)> {
    let url = l1_rpc.parse().wrap_err_with(|| format!("L1 RPC URL {l1_rpc:?}"))?;
    let provider = ProviderBuilder::new().connect_http(url);
    let layer = FlashLayer::new(contract, provider);
    let latest =
        layer.settled().call().await.wrap_err_with(|| format!("reading the layer contract at {l1_rpc}"))?;
    let finalized = layer.settled().block(BlockNumberOrTag::Finalized.into()).call().await.unwrap_or(false);
    Ok((finalized, latest))
}

/// Stops the node running on `datadir` (SIGTERM to the pid in its pid file; waits for it).
fn stop_node(datadir: &Path) -> eyre::Result<()> {
    let pid_path = datadir.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&pid_path) else { return Ok(()) };
    let pid: i32 = text.trim().parse().wrap_err_with(|| format!("{} holds no pid", pid_path.display()))?;
    // SAFETY: kill with a pid read from our own pid file; signal 0 only probes.
    let alive = |pid| unsafe { libc::kill(pid, 0) == 0 };
    if !alive(pid) {
        return Ok(());
    }
    println!("stopping the node (pid {pid})");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive(pid) && pid_path.exists() {
        ensure!(Instant::now() < deadline, "the node (pid {pid}) did not stop within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The pid file goes just before the process exits; give it a moment to release the db.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Writes the chain in `db` to `path` (see the module docs); returns the blocks written.
pub fn write_archive(db: &Db, layer: &LayerDescription, path: &Path) -> eyre::Result<u64> {
    let head = db.head_number()?.unwrap_or_default();
    let balances = FinalBalances::from_state(db)?;
    let file = std::fs::File::create_new(path).wrap_err_with(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let header = ArchiveHeader { format: ARCHIVE_FORMAT.into(), layer: layer.clone(), head, balances };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    for number in 0..=head {
        let block =
            db.block(number)?.ok_or_else(|| eyre::eyre!("block {number} missing from the database"))?;
        let hash = db.block_hash(number)?.unwrap_or_default();
        let receipts = db.receipts(number)?.unwrap_or_default();
        let line = ArchivedBlock {
            number,
            hash,
            block: alloy::rlp::encode(alloy::consensus::Block {
                header: block.header,
                body: alloy::consensus::BlockBody {
                    transactions: block.transactions,
                    ommers: Vec::new(),
                    withdrawals: None,
                },
            })
            .into(),
            receipts: receipts.iter().map(|r| r.encoded_2718().into()).collect(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(head + 1)
}

/// Reads an archive's header line.
pub fn read_archive_header(path: &Path) -> eyre::Result<ArchiveHeader> {
    let file = std::fs::File::open(path).wrap_err_with(|| format!("opening {}", path.display()))?;
    let mut first = String::new();
    std::io::BufReader::new(file).read_line(&mut first)?;
    let header: ArchiveHeader = serde_json::from_str(&first)
        .wrap_err_with(|| format!("{} is not a flashlayer archive", path.display()))?;
    ensure!(
        header.format == ARCHIVE_FORMAT,
        "{}: unknown archive format {:?}",
        path.display(),
        header.format
    );
    Ok(header)
}

/// `flashlayer dispose`: once the final batch is final on L1 (or `force`), stops the node on
/// `datadir`, writes the archive if asked, and deletes the data directory.
pub async fn dispose(
    layer_path: &Path,
    datadir: &Path,
    l1_rpc: Option<&str>,
    archive: Option<&Path>,
    force: bool,
) -> eyre::Result<()> {
    let layer = LayerDescription::load(layer_path)?;
    ensure!(datadir.join("db").is_dir(), "{} holds no node data", datadir.display());
    if let Some(archive) = archive {
        ensure!(!archive.exists(), "{} exists; refusing to overwrite it", archive.display());
    }
    match (&layer.l1, l1_rpc) {
        (Some(l1), Some(url)) => {
            let (finalized, latest) = settled_on_l1(url, l1.contract).await?;
            if !finalized && !force {
                bail!(
                    "the layer's final batch is {} on L1 yet; disposing now could lose what only this node holds (wait, or pass --force)",
                    if latest { "accepted but not finalized" } else { "not accepted" }
                );
            }
        }
        (Some(_), None) if !force => {
            bail!("the layer settles on L1: pass --l1-rpc to check it is settled (or --force)")
        }
        _ => {}
    }
    stop_node(datadir)?;
    if let Some(path) = archive {
        let db =
            Db::open(&datadir.join("db")).wrap_err("opening the node's database (is it still running?)")?;
        let blocks = write_archive(&db, &layer, path)?;
        drop(db);
        println!("archived {blocks} blocks with their receipts and the final balances to {}", path.display());
    }
    let size = dir_size(datadir);
    std::fs::remove_dir_all(datadir).wrap_err_with(|| format!("deleting {}", datadir.display()))?;
    println!("disposed: deleted {} ({:.1} MiB)", datadir.display(), size as f64 / (1024.0 * 1024.0));
    Ok(())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
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
    let (balance, proof) = match source {
        ProofSource::Rpc(rpc) => {
            use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
            let client = HttpClientBuilder::default().build(rpc)?;
            let proof: Option<crate::rpc::misc::ClaimProofView> =
                client.request("flash_claimProof", rpc_params![account]).await?;
            let proof = proof.ok_or_else(|| eyre::eyre!("{account} has nothing to claim"))?;
            (proof.balance, proof.proof)
        }
        ProofSource::Archive(path) => {
            let header = read_archive_header(path)?;
            let proof = header
                .balances
                .proof_of(account)
                .ok_or_else(|| eyre::eyre!("{account} has nothing to claim"))?;
            (proof.balance, proof.proof)
        }
    };
    let root = layer.balancesRoot().call().await?;
    let call = layer.claim(account, balance, proof);
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
        "claimed {} ETH ({balance} wei) on L1 for {account}: tx {}",
        alloy::primitives::utils::format_ether(balance),
        receipt.transaction_hash
    );
    Ok(balance)
}
