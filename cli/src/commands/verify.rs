//! `flashlayer verify`: rebuild a layer's chain from its batch data and check every batch its
//! L1 contract accepted, with the node's own execution code and none of a node's consensus
//! state. One honest verifier is enough to catch a committee that signed a wrong root.
//!
//! The batches come from the contract's `BatchAccepted` events (and `Settled` for the final
//! one), the deposits from its `Deposit` events, the batch data from an operator's
//! `flash_batchData` or a `dispose --archive` file; the check itself is
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
    /// --archive, an `l1-calldata` layer's data is read from its submissions on L1.
    #[arg(long, conflicts_with = "archive")]
    data_rpc: Option<String>,
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
}

impl VerifyCommand {
    /// Runs the verification.
    pub fn execute(self) -> eyre::Result<()> {
        super::runtime()?.block_on(self.run())
    }

    async fn run(self) -> eyre::Result<()> {
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
        let genesis_on_l1 = flash.genesisBlockHash().call().await.map_err(|e| {
            eyre::eyre!("{contract} on L1 chain {chain_id} is not a FlashLayer contract ({e})")
        })?;

        let source = match (&self.data_rpc, &self.archive, l1.data_availability) {
            (Some(rpc), _, _) => DataSource::rpc(rpc)?,
            (None, Some(path), _) => DataSource::Archive(read_archive_batches(path)?),
            (None, None, DataAvailability::L1Calldata) => DataSource::L1(provider.clone()),
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
        let rules = BatchRules { blocks: l1.batch_blocks, interval_secs: l1.batch_interval_secs };
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

        let mut l1_view = L1View::new(provider.clone(), contract, l1.deployed_at);
        let mut totals = (0u64, 0u64, 0u64); // blocks, transactions, deposits
        let mut exec_time = Duration::ZERO;
        loop {
            l1_view.refresh().await?;
            while let Some(accepted) = l1_view.batch(verifier.verified_batches() + 1) {
                let accepted = accepted.clone();
                let data =
                    source.fetch(accepted.index, l1_view.submissions.get(&accepted.index).copied()).await?;
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
                        bail!("MISMATCH in {m}\n(batches before it check out: {})", m.batch.saturating_sub(1))
                    }
                    Err(VerifyError::Failed(e)) => return Err(e).wrap_err("the verifier itself failed"),
                }
            }
            let settled = l1_view.settled;
            if !self.follow || settled {
                break;
            }
            tokio::time::sleep(Duration::from_secs(self.poll_secs.max(1))).await;
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

/// What the L1 says: accepted batches, deposits, the final balances root.
struct L1View {
    provider: DynProvider,
    contract: Address,
    next_block: u64,
    batches: BTreeMap<u64, AcceptedBatch>,
    deposits: BTreeMap<u64, Deposit>,
    /// The L1 transaction that submitted each batch (where an l1-calldata layer's data is).
    submissions: BTreeMap<u64, B256>,
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
                        if let Some(tx) = log.transaction_hash {
                            self.submissions.insert(e.index, tx);
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

/// Where batch data comes from.
enum DataSource {
    /// An operator's `flash_batchData`.
    Rpc(jsonrpsee::http_client::HttpClient, String),
    /// A `dispose --archive` file's batch lines.
    Archive(BTreeMap<u64, crate::archive::ArchivedBatch>),
    /// The submissions of an `l1-calldata` layer.
    L1(DynProvider),
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

    /// The data of batch `index` (submitted in L1 transaction `submission`), unchecked: the
    /// verifier checks it against the commitment.
    async fn fetch(&self, index: u64, submission: Option<B256>) -> eyre::Result<Vec<u8>> {
        use jsonrpsee::core::client::ClientT;
        match self {
            Self::Rpc(client, url) => {
                let answer: Option<BatchDataAnswer> = client
                    .request("flash_batchData", jsonrpsee::rpc_params![U64::from(index)])
                    .await
                    .wrap_err_with(|| format!("flash_batchData({index}) at {url}"))?;
                let answer = answer.ok_or_else(|| {
                    eyre::eyre!(
                        "the operator at {url} has no data for batch {index} (L1 accepted it: it should)"
                    )
                })?;
                Ok(answer.data.to_vec())
            }
            Self::Archive(batches) => batches
                .get(&index)
                .map(|b| b.data.to_vec())
                .ok_or_else(|| eyre::eyre!("the archive holds no data for batch {index}")),
            Self::L1(provider) => {
                use alloy::{consensus::Transaction, sol_types::SolCall};
                let hash =
                    submission.ok_or_else(|| eyre::eyre!("no L1 transaction is known for batch {index}"))?;
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
        }
    }
}
