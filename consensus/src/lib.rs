//! Block ordering with HotStuff (`hotstuff_rs`).
//!
//! This crate adapts `hotstuff_rs` to a flash layer: what a block's data is (one RLP
//! [`Payload`](flashlayer_execution::Payload) of ordered raw transactions and a timestamp), when
//! the leader proposes (paced at the block interval, empty blocks only every few seconds), what
//! a valid proposal is, and how consensus messages travel.
//!
//! # Layout
//! - [`FlashApp`]: the `hotstuff_rs::app::App`: `produce_block` takes transactions from a
//!   [`TxSource`] (the mempool) in policy order and deposits from an [`L1View`] (the L1
//!   watcher); `validate_block` checks payload rules, deposits against this node's own L1
//!   view. Both run on hotstuff_rs's own thread and never wait on anything that may wait on
//!   consensus.
//! - [`ConsensusNetwork`]: the `hotstuff_rs` `Network` over a [`Transport`] seam. Its `recv`
//!   blocks for about a millisecond so hotstuff_rs's polling thread does not spin a core.
//! - [`admission`]: what peers may send before hotstuff_rs sees it (validators only, except
//!   block sync requests; rate limits; bytes waiting), a plain state machine behind [`Inbound`].
//! - [`Replica`]: starts (and on first run initialises) a replica on a node's RocksDB.
//! - [`committed`]: reading committed payloads back out of the block tree.
//! - [`schedule`]: who leads each view ([`FlashSchedule`]): round robin minus the validators the
//!   committed chain shows failing; each block records its view, proposer and skipped leaders.

pub mod admission;
mod app;
pub mod committed;
mod error;
mod network;
mod replica;
pub mod schedule;

pub use admission::{InboundLimits, Verdict};
pub use app::{
    AppConfig, END_CLOCK_SKEW, ExecutedRecord, FlashApp, L1_ORIGIN_BACKOFF, L1_ORIGIN_BACKOFF_MAX, L1View,
    MAX_DEPOSITS_PER_BLOCK, NoL1, OriginBackoff, TxSource,
};
pub use error::{Error, Result};
pub use network::{ConsensusNetwork, Inbound, Inbox, LocalTransport, Transport, inbox};
pub use replica::{ConsensusStatus, Replica, ReplicaConfig, ValidatorKey, status};
pub use schedule::FlashSchedule;

/// hotstuff_rs's types, re-exported for the node assembly.
pub use hotstuff_rs;
