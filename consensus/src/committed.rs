//! Reading committed blocks back out of the block tree, for the executor.

use crate::{Error, Result};
use alloy::primitives::B256;
use flashlayer_execution::Payload;
use flashlayer_storage::ConsensusStore;
use hotstuff_rs::{block_tree::pluggables::KVGet, types::data_types::BlockHeight};

fn tree_err(e: impl std::fmt::Debug) -> Error {
    Error::BlockTree(format!("{e:?}"))
}

/// Consensus height of the highest committed block, `None` before the first commit.
///
/// Consensus height `h` is L2 block number `h + 1` (block 0 is the genesis, which consensus
/// never orders).
pub fn committed_height(store: &ConsensusStore) -> Result<Option<u64>> {
    let Some(hash) = store.highest_committed_block().map_err(tree_err)? else { return Ok(None) };
    Ok(store.block_height(&hash).map_err(tree_err)?.map(|h| h.int()))
}

/// The committed block at consensus height `height`: its hash and payload.
pub fn committed_payload(store: &ConsensusStore, height: u64) -> Result<(B256, Payload)> {
    let hash = store
        .block_at_height(BlockHeight::new(height))
        .map_err(tree_err)?
        .ok_or_else(|| Error::BlockTree(format!("no committed block at height {height}")))?;
    let data = store
        .block_data(&hash)
        .map_err(tree_err)?
        .ok_or_else(|| Error::BlockTree(format!("no data for block at height {height}")))?;
    let datum = data
        .iter()
        .next()
        .ok_or_else(|| Error::BadCommittedPayload { height, reason: "empty data".into() })?;
    let payload = Payload::decode(datum.bytes())
        .map_err(|e| Error::BadCommittedPayload { height, reason: e.to_string() })?;
    Ok((B256::from(hash.bytes()), payload))
}
