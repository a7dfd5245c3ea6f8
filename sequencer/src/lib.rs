//! `flashlayer`: the sequencer node of a flash layer, and the tools around it.
//!
//! A flash layer is a disposable, application-tailored EVM rollup. This binary runs one of its
//! sequencer nodes (`flashlayer node`), creates development layers (`flashlayer init`,
//! `flashlayer devnet`) and manages keys (`flashlayer keys`).
//!
//! # Layout
//! - [`node`]: assembly of storage, execution, mempool, consensus, RPC and metrics.
//! - [`mempool`]: admission rules, nonce queues, journal, block selection.
//! - [`executor`]: the actor that executes committed blocks.
//! - [`rpc`]: Ethereum JSON-RPC (HTTP + WebSocket).
//! - [`metrics`]: Prometheus `/metrics` and `/health`.
//! - [`settle`]: the L1 watcher as consensus's L1 view, and the settlement service's feeds.
//! - [`layer`], [`keys`]: the layer description and node keys on disk.
//! - [`devnet`]: local layers for development and tests (with an anvil L1).
//! - [`bridge`]: deposits, withdrawals and relays for users (`flashlayer bridge`).

pub mod bridge;
pub mod create;
pub mod devnet;
pub mod dispose;
pub mod executor;
pub mod keys;
pub mod layer;
pub mod lifecycle;
pub mod loadgen;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod rpc;
pub mod settle;
