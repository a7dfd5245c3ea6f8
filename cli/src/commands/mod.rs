//! One file per `flashlayer` command: its clap arguments beside its handler (`execute`).
//!
//! The commands come in three groups: running nodes and local layers ([`OperatorCommand`]),
//! the load generator, and a layer's life on its L1 ([`LayerCommand`]). Only the load generator
//! is built without the `node` feature.

#[cfg(feature = "node")]
pub mod bridge;
#[cfg(feature = "node")]
pub mod claim;
#[cfg(feature = "node")]
pub mod create;
#[cfg(feature = "node")]
pub mod devnet;
#[cfg(feature = "node")]
pub mod dispose;
#[cfg(feature = "node")]
pub mod init;
#[cfg(feature = "node")]
pub mod keys;
pub mod loadgen;
#[cfg(feature = "node")]
pub mod membership;
#[cfg(feature = "node")]
pub mod nemesis;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "node")]
pub mod status;
#[cfg(feature = "node")]
pub mod verify;

use clap::Subcommand;

/// The `flashlayer` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// `node`, `init`, `devnet`, `keys`, `nemesis`.
    #[cfg(feature = "node")]
    #[command(flatten)]
    Operator(OperatorCommand),
    /// Flood JSON-RPC endpoints (a layer's nodes, anvil, any Ethereum node) with signed
    /// transactions and measure throughput and submit-to-inclusion latency.
    Loadgen(Box<loadgen::LoadgenCommand>),
    /// `bridge`, `membership`, `create`, `status`, `claim`, `dispose`, `verify`.
    #[cfg(feature = "node")]
    #[command(flatten)]
    Layer(LayerCommand),
}

impl Command {
    /// Runs the command.
    pub fn execute(self) -> eyre::Result<()> {
        match self {
            #[cfg(feature = "node")]
            Self::Operator(command) => command.execute(),
            Self::Loadgen(command) => command.execute(),
            #[cfg(feature = "node")]
            Self::Layer(command) => command.execute(),
        }
    }
}

/// Running nodes and local layers.
#[cfg(feature = "node")]
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Run a sequencer node of a layer.
    Node(Box<node::NodeCommand>),
    /// Write a development layer (layer.json, node keys, dev accounts) into a directory.
    Init(init::InitCommand),
    /// Run a local devnet: a layer and its nodes as separate processes, until Ctrl-C.
    Devnet(devnet::DevnetCommand),
    /// Manage node keys.
    Keys {
        /// The subcommand.
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Faults under load: a fresh 4-node devnet with its anvil L1, the load generator over
    /// every node, kills, pauses, partitions and L1 outages from a seed, then a check of the
    /// history (nothing acknowledged lost, one chain everywhere, the L1 batches match).
    Nemesis(Box<nemesis::NemesisCommand>),
}

#[cfg(feature = "node")]
impl OperatorCommand {
    /// Runs the command.
    pub fn execute(self) -> eyre::Result<()> {
        match self {
            Self::Node(command) => command.execute(),
            Self::Init(command) => command.execute(),
            Self::Devnet(command) => command.execute(),
            Self::Keys { command } => command.execute(),
            Self::Nemesis(command) => command.execute(),
        }
    }
}

/// A layer's life on its L1: creating it, moving ETH, its sequencer set, its end.
#[cfg(feature = "node")]
#[derive(Debug, Subcommand)]
pub enum LayerCommand {
    /// Move ETH between the L1 and a layer.
    Bridge {
        /// The subcommand.
        #[command(subcommand)]
        command: bridge::BridgeCommand,
    },
    /// Change a live layer's sequencer set (owner-approved requests on L1; the cluster applies
    /// them at a batch boundary).
    Membership {
        /// The subcommand.
        #[command(subcommand)]
        command: membership::MembershipCommand,
    },
    /// Create a layer on an L1: check the parameters, deploy its contract (the owner's key pays
    /// and locks the genesis ETH), write the layer description operators start from.
    Create(Box<create::CreateCommand>),
    /// Where a layer stands: phase, heights, finality, peers, sequencer set, batches, time left.
    Status(status::StatusCommand),
    /// Claim an account's final L2 ETH balance on L1, once the layer is settled.
    Claim(claim::ClaimCommand),
    /// Stop a node and delete its data once the layer's final batch is final on L1.
    Dispose(dispose::DisposeCommand),
    /// Rebuild a layer's chain from its batch data (an operator's RPC or an archive) and check
    /// every batch its L1 contract accepted: block hashes, state roots, messages, deposits and
    /// the final balances. Needs no node of the layer.
    Verify(Box<verify::VerifyCommand>),
}

#[cfg(feature = "node")]
impl LayerCommand {
    /// Runs the command.
    pub fn execute(self) -> eyre::Result<()> {
        match self {
            Self::Bridge { command } => command.execute(),
            Self::Membership { command } => command.execute(),
            Self::Create(command) => command.execute(),
            Self::Status(command) => command.execute(),
            Self::Claim(command) => command.execute(),
            Self::Dispose(command) => command.execute(),
            Self::Verify(command) => command.execute(),
        }
    }
}

/// The multi-threaded tokio runtime the commands run on.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("flashlayer").build()
}
