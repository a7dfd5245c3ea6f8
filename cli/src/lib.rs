//! `flashlayer`: the command line of flash layers, for each of their users.
//!
//! - Validator operators: `keys` (generate, show, import, export), `node` (run a sequencer
//!   node, the [`flashlayer_node`] crate), `membership` (join or leave a live layer).
//! - dApp teams: `create` (deploy a layer on its L1 and write its description), `status`,
//!   `bridge` (deposit, withdraw, relay, refund), `claim` and `dispose` at the end of its life.
//! - Load testers: `loadgen` (the [`flashlayer_loadgen`] crate).
//! - Developers: `init` and `devnet` (a local layer with an anvil L1, its nodes as processes),
//!   `nemesis` (faults under load, then a history check).
//!
//! `main.rs` only parses and dispatches; each command's flags sit beside its handler.
//!
//! Everything but `loadgen` needs the node's crates (RocksDB, revm, libp2p) and sits behind the
//! default `node` feature: `cargo install --path cli --no-default-features` builds a
//! `flashlayer` that is the load generator alone.
//!
//! # Layout
//! - [`commands`]: one file per command (clap arguments and `execute`).
//! - [`args`]: flag groups several commands share (`--l1-rpc` with `--contract`,
//!   `--private-key`, `--password-file`, key protection, settlement parameters).
//! - [`devnet`]: local layers: `init`, the devnet supervisor, deploying a layer's contract on L1.
//! - [`archive`]: the chain archive `dispose --archive` writes and `claim --archive` reads.
//! - [`l1`]: wallet providers and the simulate-then-send path for L1 transactions.
//! - [`nemesis`]: faults under load on a devnet and the history check after them.
//! - [`proxy`]: the delaying TCP proxy that gives a devnet's p2p links delay, jitter and loss.

#[cfg(feature = "node")]
pub mod archive;
#[cfg(feature = "node")]
pub mod args;
pub mod commands;
#[cfg(feature = "node")]
pub mod devnet;
#[cfg(feature = "node")]
pub mod l1;
#[cfg(feature = "node")]
pub mod nemesis;
#[cfg(feature = "node")]
pub mod proxy;
