//! The archive `flashlayer dispose --archive` writes, and what `claim --archive` reads.
//!
//! JSON Lines: a first line with the layer description, the final batch's balances (every
//! claimable account, so claims work without any node) and the head; then one line per
//! block, `{"number", "hash", "block", "receipts"}` with the block and its receipts in their
//! canonical encodings (RLP block, EIP-2718 receipts), hex; then one line per settlement
//! batch, `{"batch", "txDataHash", "data"}` with the batch data its `txDataHash` commits to
//! (what `flashlayer verify --archive` re-executes).

use alloy::{
    eips::eip2718::Encodable2718,
    primitives::{B256, Bytes},
};
use eyre::{Context, ensure};
use flashlayer_node::layer::LayerDescription;
use flashlayer_settlement::{BatchChain, BatchRules, balances::FinalBalances};
use flashlayer_storage::Db;
use serde::{Deserialize, Serialize};
use std::{
    io::{BufRead, Write},
    path::Path,
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

/// One batch line: the data a batch commits to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchivedBatch {
    /// Batch index.
    pub batch: u64,
    /// keccak256 of `data`.
    pub tx_data_hash: B256,
    /// The batch data (`flashlayer_settlement::data`).
    pub data: Bytes,
}

const ARCHIVE_FORMAT: &str = "flashlayer-archive/1";

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
    if let Some(l1) = &layer.l1 {
        // The batches, derived from the chain the way every node derives them.
        let members = layer.sequencers.iter().map(|s| s.settlement_address).collect();
        let rules = BatchRules {
            blocks: l1.batch_blocks,
            interval_secs: l1.batch_interval_secs,
            data_availability: l1.data_availability,
        };
        let mut chain = BatchChain::new(rules, members, l1.threshold);
        for built in chain.advance(db, head)? {
            let b = &built.batch;
            let data = flashlayer_settlement::data::encode_range(db, b.firstBlock, b.lastBlock)?;
            let line = ArchivedBatch { batch: b.index, tx_data_hash: b.txDataHash, data: data.into() };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
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

/// The batch data lines of an archive, by batch index.
pub fn read_archive_batches(path: &Path) -> eyre::Result<std::collections::BTreeMap<u64, ArchivedBatch>> {
    read_archive_header(path)?;
    let file = std::fs::File::open(path).wrap_err_with(|| format!("opening {}", path.display()))?;
    let mut batches = std::collections::BTreeMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate().skip(1) {
        let line = line.wrap_err_with(|| format!("reading {}", path.display()))?;
        // Block lines come first; only batch lines carry a "batch" key.
        if !line.starts_with("{\"batch\"") {
            continue;
        }
        let batch: ArchivedBatch = serde_json::from_str(&line)
            .wrap_err_with(|| format!("{} line {}: not a batch line", path.display(), n + 1))?;
        batches.insert(batch.batch, batch);
    }
    Ok(batches)
}
