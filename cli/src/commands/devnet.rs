//! `flashlayer devnet`: a local layer and its nodes as separate processes (with an anvil L1
//! unless `--no-l1`), in the foreground until SIGINT or SIGTERM. The machinery is
//! [`crate::devnet`].

use crate::{
    args::{LogFormat, SettlementArgs},
    devnet,
};
use clap::Args;
use std::path::PathBuf;

/// `flashlayer devnet`'s flags.
#[derive(Debug, Args)]
pub struct DevnetCommand {
    /// Number of nodes (4 tolerates one faulty node).
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Work directory (resumed if it holds a devnet).
    #[arg(long)]
    dir: PathBuf,
    /// Start over even if DIR holds a devnet.
    #[arg(long)]
    fresh: bool,
    /// L2 chain id of a new devnet.
    #[arg(long, default_value_t = 13370)]
    chain_id: u64,
    /// First port (RPC of node i = PORT + 2i, metrics = PORT + 2i + 1); free ports if unset.
    #[arg(long)]
    base_port: Option<u16>,
    /// Log format of the nodes.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Run without an L1 (no anvil, no settlement).
    #[arg(long)]
    no_l1: bool,
    /// The anvil binary for the L1 (scripts/devnet puts the project's on PATH).
    #[arg(long, default_value = "anvil")]
    anvil: PathBuf,
    /// Live a new layer's whole life (implies --fresh): it ends this many seconds after
    /// creation, settles on the L1, a dev account claims its balance there, the nodes are
    /// disposed of (node 0's chain archived to DIR/archive.jsonl) and the devnet exits.
    #[arg(long, value_name = "SECS", conflicts_with = "no_l1")]
    lifetime: Option<u64>,
    /// Serve the nodes' `admin` RPC namespace (block and unblock peers).
    #[arg(long)]
    enable_admin_rpc: bool,
    /// Round trip added between every pair of nodes (milliseconds), by a delaying proxy in
    /// front of each node's p2p port.
    #[arg(long, default_value_t = 0)]
    link_rtt_ms: u64,
    /// Jitter added each way on every p2p link (milliseconds).
    #[arg(long, default_value_t = 0)]
    link_jitter_ms: u64,
    /// Share of chunks lost on every p2p link (each costs a 200 ms retransmission).
    #[arg(long, default_value_t = 0.0)]
    link_loss: f64,
    /// Base URL of an L1 block explorer the nodes' live pages link batches and claims to
    /// (anvil has none; for an explorer run against the devnet's anvil).
    #[arg(long, value_name = "URL", conflicts_with = "no_l1", value_parser = flashlayer_node::live::parse_explorer_url)]
    l1_explorer: Option<String>,
    #[command(flatten)]
    settlement: SettlementArgs,
}

impl DevnetCommand {
    /// Runs the devnet until a signal (or, with `--lifetime`, until the layer is disposed of).
    pub fn execute(self) -> eyre::Result<()> {
        let l1 = (!self.no_l1).then(|| devnet::DevnetL1Options {
            anvil: self.anvil,
            explorer: self.l1_explorer,
            setup: self
                .settlement
                .setup(String::new(), devnet::dev_accounts(1).expect("dev key").remove(0).0),
        });
        super::runtime()?.block_on(devnet::run(devnet::DevnetOptions {
            l1,
            dir: self.dir,
            nodes: self.nodes,
            chain_id: self.chain_id,
            fresh: self.fresh,
            base_port: self.base_port,
            log_format: self.log_format.name().into(),
            lifetime: self.lifetime,
            admin_rpc: self.enable_admin_rpc,
            link: (self.link_rtt_ms > 0 || self.link_jitter_ms > 0 || self.link_loss > 0.0).then_some(
                crate::proxy::LinkFaults {
                    rtt: std::time::Duration::from_millis(self.link_rtt_ms),
                    jitter: std::time::Duration::from_millis(self.link_jitter_ms),
                    loss: self.link_loss,
                },
            ),
        }))
    }
}
