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
//! - [`StateReader`]: the latest state as a revm `DatabaseRef`, used by execution and `eth_call`.
//! - [`ConsensusStore`]: the `hotstuff_rs::KVStore` over the `consensus` column family, whose
//!   writes are synced before HotStuff sends the vote they back.

mod consensus_store;
mod db;
mod error;
mod state;
pub mod tables;

pub use consensus_store::{ConsensusStore, ConsensusWriteBatch};
pub use db::{BlockWrite, Db, StoredBlock, TxLocation};
pub use error::{Error, Result};
pub use state::{StateReader, merged_entries};
