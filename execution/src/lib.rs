//! Deterministic execution of committed payloads into Ethereum blocks.
//!
//! Consensus orders; execution follows commit. Every node feeds the same committed
//! [`Payload`]s (ordered raw EIP-2718 transactions plus a timestamp) through the same
//! [`BlockExecutor`] and so arrives at the same Ethereum block: real header, state root,
//! transactions root, receipts root and bloom, written to RocksDB as one atomic batch.
//! Invalid transactions (bad nonce, funds) are skipped, never fatal.
//!
//! # Layout
//! - [`ChainConfig`]: the execution parameters of a layer (chain id, genesis, gas and fee rules).
//! - [`Payload`]: the consensus payload format, RLP-encoded: timestamp, transactions, and the
//!   L1 origin with the deposits credited before the transactions.
//! - [`messages`]: the `L2MessagePasser` system contract in every genesis, the L2->L1
//!   messages it emits, and the per-block settlement record batches are built from.
//! - [`genesis`]: genesis allocs of any size, parsed bounded and streamed into the state.
//! - [`BlockExecutor`]: genesis initialisation and block execution on revm (through alloy-evm).
//! - [`state_root`]: the state trie root of a block's changes over the stored state.
//! - [`simulate`]: `eth_call` / `eth_estimateGas` against the latest state.
//! - [`trace`]: `debug_trace*`, blocks and calls re-executed under revm-inspectors' tracers.
//! - [`recover_senders`]: parallel libsecp256k1 sender recovery for transactions whose sender
//!   is not already known.

mod config;
mod error;
mod executor;
pub mod genesis;
pub mod messages;
mod payload;
mod simulate;
pub mod state_root;
pub mod trace;

pub use config::{ChainConfig, FeeMode, SPEC};
pub use error::{Error, Result};
pub use executor::{BlockExecutor, ExecutedBlock, KnownTxs, SkipReason, SkippedTx, recover_senders};
pub use payload::{Deposit, L1Origin, MembershipChange, Payload};
pub use simulate::{SimulateError, evm_env, simulate};
