//! `flashlayer-node`: the sequencer node of a flash layer, everything that runs inside
//! `flashlayer node`.
//!
//! A flash layer is a disposable, application-tailored EVM rollup. A node admits transactions
//! over JSON-RPC into its mempool, gossips them, orders them with its peers through HotStuff
//! (`flashlayer-consensus` over `flashlayer-p2p`), executes committed blocks into RocksDB
//! (`flashlayer-execution`, `flashlayer-storage`) and signs and submits settlement batches
//! (`flashlayer-settlement`). [`node::run`] assembles those parts; the command line that starts
//! it, and every tool that talks to a layer from the outside, live in the `flashlayer` crate
//! (`cli/`).
//!
//! # Layout
//! - [`node`]: assembly of storage, execution, mempool, consensus, p2p, settlement, RPC and
//!   metrics; start-up checks and shutdown.
//! - [`mempool`]: admission rules (geth's), nonce queues, the journal, block selection in the
//!   layer's ordering policy.
//! - [`executor`]: the actor that executes committed blocks and fans out their effects.
//! - [`rpc`]: Ethereum JSON-RPC over HTTP and WebSocket (`eth`, `debug`, `net`, `web3`,
//!   `txpool`, `flash`, `admin`).
//! - [`metrics`]: Prometheus `/metrics` and `/health`.
//! - [`live`]: the layer's live page and explorer, on the metrics port.
//! - [`settle`]: the L1 watcher as consensus's L1 view, and the settlement service's feeds.
//! - [`lifecycle`]: where the layer is in its life as this node sees it (live, closing,
//!   settled), and turning transactions away once its end is due.
//! - [`layer`]: the layer description (`layer.json`) every node starts from.
//! - [`keys`]: a node's consensus and settlement keys on disk (keystore v3 or plain hex).

pub mod executor;
pub mod keys;
pub mod layer;
pub mod lifecycle;
pub mod live;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod rpc;
pub mod settle;
