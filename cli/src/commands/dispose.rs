//! `flashlayer dispose`: once the layer's final batch is final on L1, stops a node, optionally
//! archives its chain (see [`crate::archive`]) and deletes its data directory.

use crate::archive::write_archive;
use alloy::{eips::BlockNumberOrTag, primitives::Address, providers::ProviderBuilder};
use clap::Args;
use eyre::{Context, bail, ensure};
use flashlayer_node::{layer::LayerDescription, node::PID_FILE};
use flashlayer_settlement::bindings::FlashLayer;
use flashlayer_storage::Db;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// `flashlayer dispose`'s flags.
#[derive(Debug, Args)]
pub struct DisposeCommand {
    /// The layer description.
    #[arg(long)]
    layer: PathBuf,
    /// The node's data directory.
    #[arg(long)]
    datadir: PathBuf,
    /// L1 JSON-RPC URL (to check the layer is settled).
    #[arg(long)]
    l1_rpc: Option<String>,
    /// First export the chain (blocks, receipts, final balances) to this file (JSON Lines).
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Dispose even if the final batch is not final on L1.
    #[arg(long)]
    force: bool,
}

impl DisposeCommand {
    /// Disposes of the node's data.
    pub fn execute(self) -> eyre::Result<()> {
        super::runtime()?.block_on(dispose(
            &self.layer,
            &self.datadir,
            self.l1_rpc.as_deref(),
            self.archive.as_deref(),
            self.force,
        ))
    }
}

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
            // Until the final batch's window is over a watcher may dispute it, and then users
            // escape with proofs of the state before it, which this node (or its archive) holds.
            let provider = ProviderBuilder::new()
                .connect_http(url.parse().wrap_err_with(|| format!("L1 RPC URL {url:?}"))?);
            let contract = FlashLayer::new(l1.contract, provider);
            let disputed = contract.disputedFrom().call().await.unwrap_or_default();
            let last = contract.batch(contract.lastBatchIndex().call().await?).call().await?;
            let window_ends = last.acceptedAt + contract.challengeWindow().call().await?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
            if archive.is_none() && !force {
                if disputed != 0 {
                    bail!(
                        "a watcher disputed batch {disputed}: users escape with proofs of batch {}'s state, which this node holds; keep it running, or dispose with --archive and publish the archive (claim --escape --archive)",
                        disputed - 1
                    );
                }
                if now < window_ends {
                    bail!(
                        "the final batch's challenge window runs until {window_ends} (L1 time, {} s from now): a watcher may still dispute it, and users would then need this node's state to escape; wait, or dispose with --archive and publish the archive",
                        window_ends - now
                    );
                }
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
