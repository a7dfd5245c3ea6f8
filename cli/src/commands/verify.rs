//! `flashlayer verify`: rebuild a layer's chain from its batch data and check every batch its
//! L1 contract accepted, with the node's own execution code and none of a node's consensus
//! state. One honest verifier is enough to catch a committee that signed a wrong root.
//!
//! The batches come from the contract's `BatchAccepted` events (and `Settled` for the final
//! one), the deposits from its `Deposit` events, the batch data from an operator's
//! `flash_batchData`, a `dispose --archive` file, the submissions' calldata (`l1-calldata`
//! layers) or their blobs (`l1-blobs` layers, from a beacon API); the check itself is
//! [`flashlayer_settlement::verify::Verifier`].

use crate::archive::{read_archive_batches, read_archive_header};
use alloy::{
    primitives::{Address, B256, Bytes, U64},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use clap::Args;
use eyre::{Context, bail, ensure};
use flashlayer_execution::Deposit;
use flashlayer_node::layer::LayerDescription;
use flashlayer_settlement::{
    BatchRules,
    bindings::FlashLayer,
    data::DataAvailability,
    verify::{AcceptedBatch, Verifier, VerifyError},
};
use flashlayer_storage::Db;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

/// `flashlayer verify`'s flags.
#[derive(Debug, Args)]
pub struct VerifyCommand {
    /// L1 JSON-RPC URL.
    #[arg(long)]
    l1_rpc: String,
    /// The layer description (`layer.json`); not needed with --archive, which holds it.
    #[arg(long, required_unless_present = "archive")]
    layer: Option<PathBuf>,
    /// The layer contract; must be the one the description names (default: that one).
    #[arg(long)]
    contract: Option<Address>,
    /// Take batch data from this operator's JSON-RPC (`flash_batchData`). Without it or
    /// --archive, an `l1-calldata` layer's data is read from its submissions on L1, an
    /// `l1-blobs` layer's from their blobs (--l1-beacon).
    #[arg(long, conflicts_with = "archive")]
    data_rpc: Option<String>,
    /// Beacon API URL to fetch an `l1-blobs` layer's blobs from (`/eth/v1/beacon/blobs`); the
    /// default, the --l1-rpc URL, is right for anvil, which serves both.
    #[arg(long)]
    l1_beacon: Option<String>,
    /// Take batch data (and the layer description) from an archive written by
    /// `flashlayer dispose --archive`.
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Directory for the rebuilt chain; must not hold one yet (default: a temporary directory,
    /// removed at the end).
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// Keep checking new batches as L1 accepts them, until the final batch or Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// With --follow, how often to look for new batches, in seconds.
    #[arg(long, default_value_t = 2)]
    poll_secs: u64,
    /// Once batch N checks out, write an EIP-1186 account proof of every account at its last
    /// block (what an exit without operators proves against) to --proofs-out, each leading to
    /// the stateRoot L1 accepted for it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    proofs_at: Option<u64>,
    /// Where --proofs-at writes its JSON lines (default: proofs-batch-N.jsonl).
    #[arg(long, requires = "proofs_at")]
    proofs_out: Option<PathBuf>,
    /// When a batch's signed data re-executes to something else than the batch claims, dispute
    /// the batch on L1 within its challenge window (`FlashLayer.dispute`), signed with
    /// --watcher-key: it and every later batch then never pay out, and accounts escape with
    /// their balances in the batch before it. Data that does not match its commitment blames
    /// its source, not the batch, and is never disputed.
    #[arg(long, requires = "watcher_key")]
    dispute: bool,
    /// Private key (hex) of a watcher the layer named at `create` (`--watcher`); pays the
    /// dispute's gas.
    #[arg(long, env = "FLASHLAYER_WATCHER_KEY", hide_env_values = true)]
    watcher_key: Option<String>,
}

impl VerifyCommand {
    /// Runs the verification.
    pub fn execute(self) -> eyre::Result<()> {
        super::runtime()?.block_on(self.run())
    }

    async fn run(self) -> eyre::Result<()> {
        self.run_until(None).await
    }

    /// Verifies every accepted batch, or up to batch `last`.
    async fn run_until(self, last: Option<u64>) -> eyre::Result<()> {
        let layer = match (&self.layer, &self.archive) {
            (Some(path), _) => LayerDescription::load(path)?,
            (None, Some(archive)) => read_archive_header(archive)?.layer,
            (None, None) => bail!("name the layer with --layer (or give an --archive)"),
        };
        let l1 =
            layer.l1.clone().ok_or_else(|| eyre::eyre!("layer {:?} does not settle on an L1", layer.name))?;
        let contract = self.contract.unwrap_or(l1.contract);
        ensure!(
            contract == l1.contract,
            "--contract {contract} is not the contract of layer {:?} ({}): give the layer description of that contract",
            layer.name,
            l1.contract
        );
        let url = self.l1_rpc.parse().wrap_err_with(|| format!("L1 RPC URL {:?}", self.l1_rpc))?;
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let chain_id =
            provider.get_chain_id().await.wrap_err_with(|| format!("reaching the L1 at {}", self.l1_rpc))?;
        ensure!(
            chain_id == l1.chain_id,
            "the L1 at {} is chain {chain_id}, layer {:?} settles on chain {}",
            self.l1_rpc,
            layer.name,
            l1.chain_id
        );
        ensure!(
            !provider.get_code_at(contract).await?.is_empty(),
            "there is no contract at {contract} on L1 chain {chain_id}"
        );
        let flash = FlashLayer::new(contract, provider.clone());
        let watcher = match (&self.watcher_key, self.dispute) {
            (Some(key), true) => {
                let key: alloy::signers::local::PrivateKeySigner =
                    key.parse().map_err(|e| eyre::eyre!("--watcher-key: {e}"))?;
                let named = flash.watchers().call().await.map_err(|e| {
                    eyre::eyre!("{contract} on L1 chain {chain_id} has no watchers to dispute with ({e})")
                })?;
                ensure!(
                    named.contains(&key.address()),
                    "--watcher-key is {}, which layer {:?} does not name as a watcher (its watchers: {}): only they may dispute",
                    key.address(),
                    layer.name,
                    if named.is_empty() {
                        "none".to_string()
                    } else {
                        named.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
                    }
                );
                Some(key)
            }
            _ => None,
        };
        let genesis_on_l1 = flash.genesisBlockHash().call().await.map_err(|e| {
            eyre::eyre!("{contract} on L1 chain {chain_id} is not a FlashLayer contract ({e})")
        })?;

        let source = match (&self.data_rpc, &self.archive, l1.data_availability) {
            (Some(rpc), _, _) => DataSource::rpc(rpc)?,
            (None, Some(path), _) => DataSource::Archive(read_archive_batches(path)?),
            (None, None, DataAvailability::L1Calldata) => DataSource::L1(provider.clone()),
            (None, None, DataAvailability::L1Blobs) => DataSource::Blobs(
                provider.clone(),
                self.l1_beacon.clone().unwrap_or_else(|| self.l1_rpc.clone()),
            ),
            (None, None, DataAvailability::Committee) => bail!(
                "layer {:?} keeps its batch data with its committee: name an operator's RPC (--data-rpc) or an archive (--archive)",
                layer.name
            ),
        };
        let (dir, _temp) = match &self.datadir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new().prefix("flashlayer-verify-").tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let db = Db::open(&dir.join("db"))
            .wrap_err_with(|| format!("opening the verifier's database in {}", dir.display()))?;
        let mut members: Vec<Address> = layer.sequencers.iter().map(|s| s.settlement_address).collect();
        members.sort();
        let rules = BatchRules {
            blocks: l1.batch_blocks,
            interval_secs: l1.batch_interval_secs,
            data_availability: l1.data_availability,
        };
        let started = Instant::now();
        eprintln!("verify: building the genesis of layer {:?} (chain {})", layer.name, layer.chain.chain_id);
        let mut verifier = tokio::task::block_in_place(|| {
            Verifier::new(db, layer.chain.clone(), rules, members, l1.threshold)
        })?;
        let genesis = verifier.genesis_hash()?;
        ensure!(
            genesis == genesis_on_l1,
            "the layer description's genesis block is {genesis}, the contract's is {genesis_on_l1}: \
             this is not the layer description of {contract}"
        );
        // The owner supplied the state an escape before the first batch pays from.
        let genesis_state = verifier.genesis_state_root()?;
        let escape_genesis = flash.batch(0).call().await?.stateRoot;
        if escape_genesis.is_zero() {
            eprintln!(
                "verify: the contract predates disputes and the escape (no genesis state root): it has no escape to check"
            );
        } else if escape_genesis != genesis_state {
            bail!(
                "MISMATCH in the genesis: the contract's escape pays from state root {escape_genesis}, the layer's genesis state is {genesis_state}"
            );
        }

        let mut l1_view = L1View::new(provider.clone(), contract, l1.deployed_at);
        let mut totals = (0u64, 0u64, 0u64); // blocks, transactions, deposits
        let mut exec_time = Duration::ZERO;
        // When this process first heard an operator refuse each batch's data.
        let mut withheld_since: BTreeMap<u64, Instant> = BTreeMap::new();
        loop {
            l1_view.refresh().await?;
            while let Some(accepted) =
                l1_view.batch(verifier.verified_batches() + 1).filter(|b| last.is_none_or(|l| b.index <= l))
            {
                let accepted = accepted.clone();
                let data = match source.fetch(accepted.index, &l1_view).await {
                    Ok(data) => data,
                    // A watcher keeps asking while the batch's window runs; data still withheld
                    // near its end is itself grounds for a dispute (nobody could check the batch).
                    // Only a committee's data can be withheld: an L1 layer's data is on L1 by the
                    // contract's own check, so failing to read it is the reader's trouble.
                    // Only an operator's explicit "no data" counts, seen for a quarter of the
                    // window at least; anything else (a transport error, a node restarting) is
                    // retried and never disputed.
                    Err(e)
                        if self.follow
                            && watcher.is_some()
                            && l1.data_availability == DataAvailability::Committee
                            && matches!(source, DataSource::Rpc(..)) =>
                    {
                        let key = watcher.as_ref().expect("checked");
                        let (left, closes_at) = match window_left(&flash, accepted.index).await {
                            Ok(window) => window,
                            Err(l1_error) => {
                                eprintln!(
                                    "verify: reading batch {}'s window failed ({l1_error:#}); asking again",
                                    accepted.index
                                );
                                break;
                            }
                        };
                        let withheld = e.downcast_ref::<Withheld>().is_some();
                        let since = *withheld_since.entry(accepted.index).or_insert_with(Instant::now);
                        if !withheld {
                            withheld_since.remove(&accepted.index);
                        }
                        let quarter = Duration::from_secs(l1.challenge_window_secs / 4);
                        let margin = (l1.challenge_window_secs / 4).max(30);
                        if !withheld || left > margin || since.elapsed() < quarter {
                            eprintln!(
                                "verify: batch {}'s data is not available ({e:#}); asking again, {left} s left in its challenge window (closes at {closes_at})",
                                accepted.index
                            );
                            break;
                        }
                        let disputed =
                            dispute(&self.l1_rpc, contract, key, accepted.index, accepted.batch_hash).await;
                        bail!(
                            "DATA WITHHELD for batch {} ({e:#}) with {left} s left in its challenge window\n{disputed}",
                            accepted.index
                        )
                    }
                    Err(e) => return Err(e),
                };
                let deposits = l1_view.deposits.clone();
                let t = Instant::now();
                let outcome = tokio::task::block_in_place(|| {
                    verifier.check(&accepted, &data, &|n| deposits.get(&n).cloned())
                });
                exec_time += t.elapsed();
                match outcome {
                    Ok(v) => {
                        totals.0 += v.blocks;
                        totals.1 += v.transactions;
                        totals.2 += v.deposits;
                        eprintln!(
                            "verify: batch {} ok: blocks {}-{}, {} transactions, {} deposits{}",
                            v.index,
                            accepted.first_block,
                            accepted.last_block,
                            v.transactions,
                            v.deposits,
                            if accepted.balances_root.is_some() { ", final balances" } else { "" }
                        );
                    }
                    Err(VerifyError::Mismatch(m)) => {
                        let disputed = match &watcher {
                            Some(key) if m.signed_data => {
                                dispute(&self.l1_rpc, contract, key, m.batch, accepted.batch_hash).await
                            }
                            Some(_) => "not disputed: the data served does not match what the batch commits to, so its source is at fault, not the batch; verify from another source".to_string(),
                            None => "run with --dispute and a watcher's key to dispute it on L1".to_string(),
                        };
                        bail!(
                            "MISMATCH in {m}\n(batches before it check out: {})\n{disputed}",
                            m.batch.saturating_sub(1)
                        )
                    }
                    Err(VerifyError::Failed(e)) => return Err(e).wrap_err("the verifier itself failed"),
                }
                if self.proofs_at == Some(accepted.index) {
                    let out = self
                        .proofs_out
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(format!("proofs-batch-{}.jsonl", accepted.index)));
                    tokio::task::block_in_place(|| write_proofs(&verifier, &accepted, &out))?;
                }
            }
            // Settled, and every accepted batch checked (or up to `last`): nothing more to follow.
            let done = l1_view.settled
                && l1_view
                    .batch(verifier.verified_batches() + 1)
                    .filter(|b| last.is_none_or(|l| b.index <= l))
                    .is_none();
            if !self.follow || done {
                break;
            }
            tokio::time::sleep(Duration::from_secs(self.poll_secs.max(1))).await;
        }
        if let Some(n) = self.proofs_at.filter(|n| *n > verifier.verified_batches()) {
            bail!(
                "--proofs-at {n}: L1 has accepted {} batches so far; no proofs written",
                verifier.verified_batches()
            );
        }
        let secs = exec_time.as_secs_f64().max(1e-9);
        println!(
            "verified {} batches ({} blocks, {} transactions, {} deposits) of layer {:?} against {contract}: \
             every root matches; re-execution {:.1} s ({:.0} tx/s), total {:.1} s{}",
            verifier.verified_batches(),
            totals.0,
            totals.1,
            totals.2,
            layer.name,
            secs,
            totals.1 as f64 / secs,
            started.elapsed().as_secs_f64(),
            if l1_view.settled { "; the layer is settled" } else { "" }
        );
        if let Some(dir) = &self.datadir {
            println!("the rebuilt chain is in {}", dir.display());
        }
        Ok(())
    }
}

/// Re-executes `archive` (a `dispose --archive` file) against the L1 at `l1_rpc` up to batch
/// `index` and writes the `--proofs-at index` file to `out`: what `claim --escape --archive`
/// proves with.
pub async fn proofs_from_archive(
    l1_rpc: &str,
    archive: &std::path::Path,
    datadir: Option<PathBuf>,
    index: u64,
    out: &std::path::Path,
) -> eyre::Result<()> {
    ensure!(index > 0, "the escape is against the genesis state: an archive holds no proof of it; use --rpc");
    let command = VerifyCommand {
        l1_rpc: l1_rpc.to_string(),
        layer: None,
        contract: None,
        data_rpc: None,
        l1_beacon: None,
        archive: Some(archive.to_path_buf()),
        datadir,
        follow: false,
        poll_secs: 2,
        proofs_at: Some(index),
        proofs_out: Some(out.to_path_buf()),
        dispute: false,
        watcher_key: None,
    };
    // The batches after the escape batch are disputed or never came: stop at it.
    command.run_until(Some(index)).await
}

/// Disputes batch `index` on L1 with the watcher `key`; says what happened (a failed dispute is
/// reported, not raised: the mismatch stays the verdict).
async fn dispute(
    l1_rpc: &str,
    contract: Address,
    key: &alloy::signers::local::PrivateKeySigner,
    index: u64,
    checked: B256,
) -> String {
    let attempt = async {
        let flash = FlashLayer::new(contract, crate::l1::wallet(l1_rpc, key)?);
        // The batch L1 holds at this index now must be the one checked: after an L1 reorg
        // another batch may stand there, and a dispute is final.
        let now = flash.batch(index).call().await?.batchHash;
        if now != checked {
            return Ok(format!(
                "NOT DISPUTED: L1 now holds batch {index} with hash {now}, not the checked {checked} (an L1 reorg?); verify again"
            ));
        }
        let call = flash.dispute(index);
        if let Err(e) = call.call().await {
            return Ok(match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
                Some(FlashLayer::FlashLayerErrors::AlreadyDisputed(d)) => {
                    format!("batch {} is disputed on L1 already: nothing from it on pays out", d.disputedFrom)
                }
                Some(FlashLayer::FlashLayerErrors::DisputeWindowClosed(w)) => format!(
                    "NOT DISPUTED: batch {index}'s challenge window closed at {} (L1 time); it stands",
                    w.closedAt
                ),
                Some(other) => format!("NOT DISPUTED: the layer contract refuses the dispute: {other:?}"),
                None => format!("NOT DISPUTED: simulating the dispute failed: {e}"),
            });
        }
        let receipt = call.send().await?.with_timeout(Some(Duration::from_secs(120))).get_receipt().await?;
        eyre::Ok(if receipt.status() {
            format!(
                "DISPUTED batch {index} on L1: tx {} in block {}; it and every later batch never pay out, and accounts escape with their balances in batch {} (flashlayer claim --escape)",
                receipt.transaction_hash,
                receipt.block_number.unwrap_or_default(),
                index - 1
            )
        } else {
            format!("NOT DISPUTED: the dispute transaction {} reverted", receipt.transaction_hash)
        })
    };
    attempt.await.unwrap_or_else(|e: eyre::Report| format!("NOT DISPUTED: sending the dispute failed: {e:#}"))
}

/// Seconds left in batch `index`'s challenge window by the L1's latest block, and when it
/// closes (L1 Unix time).
async fn window_left(
    flash: &FlashLayer::FlashLayerInstance<DynProvider>,
    index: u64,
) -> eyre::Result<(u64, u64)> {
    let record = flash.batch(index).call().await?;
    let window = flash.challengeWindow().call().await?;
    let now = flash
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .ok_or_else(|| eyre::eyre!("the L1 has no latest block"))?
        .header
        .timestamp;
    let closes_at = record.acceptedAt + window;
    Ok((closes_at.saturating_sub(now), closes_at))
}

/// One account of a `--proofs-at` file: `eth_getProof`'s fields (EIP-1186) and the hashed
/// address (the address is `null` for an account the verifier only saw inside a call).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ProofLine<'a> {
    address: Option<Address>,
    hashed_address: B256,
    balance: alloy::primitives::U256,
    nonce: U64,
    code_hash: B256,
    storage_hash: B256,
    account_proof: &'a [Bytes],
}

/// Writes the `--proofs-at` file: a first line naming the batch, its last block and state root,
/// then one [`ProofLine`] per account.
fn write_proofs(verifier: &Verifier, batch: &AcceptedBatch, path: &std::path::Path) -> eyre::Result<()> {
    use std::io::Write;
    eprintln!("verify: writing the account proofs at batch {} (block {})", batch.index, batch.last_block);
    let proofs = verifier.account_proofs(|done, total| {
        if total > 10_000 {
            eprintln!("verify: proofs {done}/{total}");
        }
    })?;
    // The rebuilt state is the accepted one (the batch checked out), so each proof leads to
    // the accepted root; a failure here is the verifier's own.
    if let Some(first) = proofs.first() {
        alloy_trie::proof::verify_proof(
            batch.state_root,
            alloy_trie::Nibbles::unpack(first.hashed_address),
            Some(alloy::rlp::encode(first.account)),
            &first.account_proof,
        )
        .map_err(|e| eyre::eyre!("the proofs do not lead to batch {}'s state root: {e}", batch.index))?;
    }
    let file = std::fs::File::create(path).wrap_err_with(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let header = serde_json::json!({
        "batch": batch.index,
        "lastBlock": batch.last_block,
        "stateRoot": batch.state_root,
        "accounts": proofs.len(),
    });
    writeln!(out, "{header}")?;
    for p in &proofs {
        let line = ProofLine {
            address: p.address,
            hashed_address: p.hashed_address,
            balance: p.account.balance,
            nonce: U64::from(p.account.nonce),
            code_hash: p.account.code_hash,
            storage_hash: p.account.storage_root,
            account_proof: &p.account_proof,
        };
        serde_json::to_writer(&mut out, &line)?;
        writeln!(out)?;
    }
    out.flush()?;
    println!(
        "wrote {} account proofs at batch {} (block {}, stateRoot {}) to {}",
        proofs.len(),
        batch.index,
        batch.last_block,
        batch.state_root,
        path.display()
    );
    Ok(())
}

/// What the L1 says: accepted batches, deposits, the final balances root.
struct L1View {
    provider: DynProvider,
    contract: Address,
    next_block: u64,
    batches: BTreeMap<u64, AcceptedBatch>,
    deposits: BTreeMap<u64, Deposit>,
    /// The L1 transaction that submitted each batch (where an l1-calldata layer's data is),
    /// and the L1 block that holds it (where an l1-blobs layer's blobs are).
    submissions: BTreeMap<u64, Submission>,
    /// The versioned hashes of the blobs the contract recorded for each batch (l1-blobs).
    blob_hashes: BTreeMap<u64, Vec<B256>>,
    settled: bool,
}

/// Blocks per `eth_getLogs` request (public endpoints refuse wide ranges).
const LOG_RANGE: u64 = 5_000;

impl L1View {
    fn new(provider: DynProvider, contract: Address, from: u64) -> Self {
        Self {
            provider,
            contract,
            next_block: from,
            batches: BTreeMap::new(),
            deposits: BTreeMap::new(),
            submissions: BTreeMap::new(),
            blob_hashes: BTreeMap::new(),
            settled: false,
        }
    }

    fn batch(&self, index: u64) -> Option<&AcceptedBatch> {
        self.batches.get(&index)
    }

    /// Reads the contract's events up to the latest L1 block.
    async fn refresh(&mut self) -> eyre::Result<()> {
        let latest = self.provider.get_block_number().await?;
        while self.next_block <= latest {
            let to = (self.next_block + LOG_RANGE - 1).min(latest);
            let filter = Filter::new().address(self.contract).from_block(self.next_block).to_block(to);
            let logs =
                self.provider.get_logs(&filter).await.wrap_err("reading the layer contract's events")?;
            for log in logs {
                match log.topic0() {
                    Some(&FlashLayer::BatchAccepted::SIGNATURE_HASH) => {
                        let e = FlashLayer::BatchAccepted::decode_log(&log.inner)?.data;
                        if let (Some(tx), Some(block), Some(block_hash)) =
                            (log.transaction_hash, log.block_number, log.block_hash)
                        {
                            self.submissions.insert(e.index, Submission { tx, block, block_hash });
                        }
                        self.batches.insert(
                            e.index,
                            AcceptedBatch {
                                index: e.index,
                                batch_hash: e.batchHash,
                                first_block: e.firstBlock,
                                last_block: e.lastBlock,
                                last_block_hash: e.lastBlockHash,
                                state_root: e.stateRoot,
                                messages_root: e.messagesRoot,
                                tx_data_hash: e.txDataHash,
                                balances_root: None,
                            },
                        );
                    }
                    Some(&FlashLayer::BatchBlobs::SIGNATURE_HASH) => {
                        let e = FlashLayer::BatchBlobs::decode_log(&log.inner)?.data;
                        self.blob_hashes.insert(e.index, e.blobHashes);
                    }
                    Some(&FlashLayer::Settled::SIGNATURE_HASH) => {
                        let e = FlashLayer::Settled::decode_log(&log.inner)?.data;
                        if let Some(batch) = self.batches.get_mut(&e.index) {
                            batch.balances_root = Some(e.balancesRoot);
                        }
                        self.settled = true;
                    }
                    Some(&FlashLayer::Deposit::SIGNATURE_HASH) => {
                        let e = FlashLayer::Deposit::decode_log(&log.inner)?.data;
                        self.deposits.insert(
                            e.nonce,
                            Deposit { nonce: e.nonce, from: e.from, to: e.to, amount: e.amount },
                        );
                    }
                    _ => {}
                }
            }
            self.next_block = to + 1;
        }
        Ok(())
    }
}

/// The L1 transaction that submitted a batch.
#[derive(Debug, Clone, Copy)]
struct Submission {
    tx: B256,
    block: u64,
    block_hash: B256,
}

/// Where batch data comes from.
enum DataSource {
    /// An operator's `flash_batchData`.
    Rpc(jsonrpsee::http_client::HttpClient, String),
    /// A `dispose --archive` file's batch lines.
    Archive(BTreeMap<u64, crate::archive::ArchivedBatch>),
    /// The submissions of an `l1-calldata` layer.
    L1(DynProvider),
    /// The blobs of an `l1-blobs` layer's submissions: the L1 (to find the beacon block) and a
    /// beacon API URL.
    Blobs(DynProvider, String),
}

/// An operator answered that it has no data for a batch L1 accepted: the one failure a watcher
/// may hold against the committee (a transport error is nobody's proven fault).
#[derive(Debug)]
struct Withheld {
    index: u64,
    url: String,
}

impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the operator at {} answers it has no data for batch {} (L1 accepted it: it should)",
            self.url, self.index
        )
    }
}

impl std::error::Error for Withheld {}

/// A beacon API `blobs` answer.
#[derive(serde::Deserialize)]
struct BeaconBlobs {
    data: Vec<Bytes>,
}

/// `flash_batchData`'s answer (the fields verify needs).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchDataAnswer {
    data: Bytes,
    #[allow(dead_code)]
    tx_data_hash: B256,
}

impl DataSource {
    fn rpc(url: &str) -> eyre::Result<Self> {
        let client = jsonrpsee::http_client::HttpClientBuilder::default()
            .max_response_size(1 << 30)
            .request_timeout(Duration::from_secs(120))
            .build(url)
            .wrap_err_with(|| format!("data RPC URL {url:?}"))?;
        Ok(Self::Rpc(client, url.to_string()))
    }

    /// The data of batch `index`, unchecked: the verifier checks it against the commitment.
    async fn fetch(&self, index: u64, l1: &L1View) -> eyre::Result<Vec<u8>> {
        use jsonrpsee::core::client::ClientT;
        let submission = l1.submissions.get(&index).copied();
        match self {
            Self::Rpc(client, url) => {
                let answer: Option<BatchDataAnswer> = client
                    .request("flash_batchData", jsonrpsee::rpc_params![U64::from(index)])
                    .await
                    .wrap_err_with(|| format!("flash_batchData({index}) at {url}"))?;
                let answer = answer.ok_or_else(|| eyre::Report::new(Withheld { index, url: url.clone() }))?;
                Ok(answer.data.to_vec())
            }
            Self::Archive(batches) => batches
                .get(&index)
                .map(|b| b.data.to_vec())
                .ok_or_else(|| eyre::eyre!("the archive holds no data for batch {index}")),
            Self::L1(provider) => {
                use alloy::{consensus::Transaction, sol_types::SolCall};
                let hash =
                    submission.ok_or_else(|| eyre::eyre!("no L1 transaction is known for batch {index}"))?.tx;
                let tx = provider.get_transaction_by_hash(hash).await?.ok_or_else(|| {
                    eyre::eyre!("the L1 does not return transaction {hash} (batch {index})")
                })?;
                let input = tx.input();
                // The submission is a direct call; a batch relayed through another contract (a
                // multisig, say) needs --data-rpc or --archive.
                if let Ok(call) = FlashLayer::submitBatchWithDataCall::abi_decode(input) {
                    Ok(call.data.to_vec())
                } else if let Ok(call) = FlashLayer::settleWithDataCall::abi_decode(input) {
                    Ok(call.data.to_vec())
                } else {
                    bail!(
                        "batch {index} was submitted by L1 transaction {hash}, which is not a direct submitBatchWithData                          or settleWithData call: take its data from --data-rpc or --archive"
                    )
                }
            }
            Self::Blobs(provider, beacon) => {
                let submission =
                    submission.ok_or_else(|| eyre::eyre!("no L1 transaction is known for batch {index}"))?;
                let hashes = l1.blob_hashes.get(&index).ok_or_else(|| {
                    eyre::eyre!("the contract recorded no blobs for batch {index} (BatchBlobs event)")
                })?;
                fetch_blobs(provider, beacon, index, submission, hashes).await
            }
        }
    }
}

/// The batch data in the blobs with versioned `hashes`, carried by `submission`'s L1 block.
/// The beacon API names blocks by slot or beacon block root: the root of the block that holds
/// L1 block N is the next block's `parentBeaconBlockRoot` (EIP-4788); a dev L1 without a
/// beacon chain (anvil) takes the execution block hash instead. Each blob's KZG commitment is
/// computed here, so a beacon node cannot substitute one.
async fn fetch_blobs(
    provider: &DynProvider,
    beacon: &str,
    index: u64,
    submission: Submission,
    hashes: &[B256],
) -> eyre::Result<Vec<u8>> {
    use flashlayer_settlement::data::{blob_versioned_hashes, from_blobs};
    // The next L1 block names the beacon block; it may be a slot away yet.
    let deadline = Instant::now() + Duration::from_secs(60);
    let next = loop {
        match provider.get_block_by_number((submission.block + 1).into()).await? {
            Some(next) => break next,
            None if Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(1)).await,
            None => bail!(
                "L1 block {} has no successor after 60 s: cannot name its beacon block (batch {index})",
                submission.block
            ),
        }
    };
    ensure!(
        next.header.parent_hash == submission.block_hash,
        "L1 block {} is no longer {} (an L1 reorg): batch {index}'s submission moved; run verify again",
        submission.block,
        submission.block_hash
    );
    let block_id = match next.header.parent_beacon_block_root.filter(|r| !r.is_zero()) {
        Some(root) => root,
        None => submission.block_hash,
    };
    let url = format!("{}/eth/v1/beacon/blobs/{block_id}", beacon.trim_end_matches('/'));
    let client = alloy::transports::http::reqwest::Client::new();
    let response = client
        .get(&url)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .wrap_err_with(|| format!("fetching the blobs of batch {index} from {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!(
            "the beacon API at {beacon} answers {status} for the blobs of L1 block {} (batch {index}): {body}\n\
             (beacon nodes keep blobs about 18 days, and since PeerDAS only a supernode serves whole blobs; \
             otherwise use --data-rpc or --archive)",
            submission.block
        );
    }
    let answer: BeaconBlobs =
        response.json().await.wrap_err_with(|| format!("the beacon API's answer at {url}"))?;
    let blobs: Vec<alloy::eips::eip4844::Blob> = answer
        .data
        .iter()
        .map(|b| alloy::eips::eip4844::Blob::try_from(b.as_ref()))
        .collect::<Result<_, _>>()
        .map_err(|_| eyre::eyre!("the beacon API at {beacon} returned a blob that is not 131072 bytes"))?;
    let found = tokio::task::block_in_place(|| blob_versioned_hashes(&blobs))?;
    let mut ours = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let position = found.iter().position(|h| h == hash).ok_or_else(|| {
            eyre::eyre!(
                "L1 block {} has no blob with versioned hash {hash} (batch {index}) at {beacon}",
                submission.block
            )
        })?;
        ours.push(blobs[position]);
    }
    Ok(from_blobs(&ours)?)
}
