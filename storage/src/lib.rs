//! RocksDB storage for a flashlayer node.
//!
//! One RocksDB per node holds everything: the HotStuff block tree (through [`ConsensusStore`],
//! the `hotstuff_rs` `KVStore` backend), the executed Ethereum chain (headers, bodies, receipts,
//! transaction lookup), the latest state (accounts, storage, code, keyed by their trie paths so
//! the state root is a straight scan), the mempool journal and node metadata.
//!
//! # Layout
//! - [`tables`]: the column families as typed tables: a name, a key encoding, a value encoding.
//! - [`Db`]: the opened database, reads and the [`BlockWrite`] that commits one executed block
//!   as one atomic `WriteBatch`, so a crash always leaves the node at a block boundary.
//! - [`trie`]: the incremental Merkle-Patricia trie: stored branch nodes beside the leaf
//!   tables, roots and EIP-1186 proofs that cost what changed, not the size of the state.
//! - [`history`]: the window of history: each block's overwritten values, so the state of the
//!   last K blocks can be read and proven.
//! - [`StateReader`]: the latest state as a revm `DatabaseRef`, used by execution and `eth_call`.
//! - [`ConsensusStore`]: the `hotstuff_rs::KVStore` over the `consensus` column family, whose
//!   writes are synced before HotStuff sends the vote they back.

mod consensus_store;
mod db;
mod error;
pub mod history;
mod state;
pub mod tables;
pub mod trie;

pub use consensus_store::{ConsensusStore, ConsensusWriteBatch};
pub use db::{BlockWrite, Db, StoredBlock, TxLocation};
pub use error::{Error, Result};
pub use state::StateReader;
