//! The archive `flashlayer dispose --archive` writes, and what `claim --archive` reads.
//!
//! JSON Lines: a first line with the layer description, the final batch's balances (every
//! claimable account, so claims work without any node) and the head; then one line per
//! block, `{"number", "hash", "block", "receipts"}` with the block and its receipts in their
//! canonical encodings (RLP block, EIP-2718 receipts), hex.

use alloy::{
    eips::eip2718::Encodable2718,
    primitives::{B256, Bytes},
};
use eyre::{Context, ensure};
use flashlayer_node::layer::LayerDescription;
use flashlayer_settlement::balances::FinalBalances;
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
