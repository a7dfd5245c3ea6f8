//! `flashlayer node`: runs one sequencer node of a layer until SIGINT or SIGTERM.

use crate::args::{LogFormat, PasswordFile};
use clap::Args;
use flashlayer_consensus::InboundLimits;
use flashlayer_node::{mempool, node};
use flashlayer_p2p::PeerLimits;
use std::{net::SocketAddr, path::PathBuf};

/// `flashlayer node`'s flags.
#[derive(Debug, Args)]
pub struct NodeCommand {
    /// Layer description (JSON).
    #[arg(long)]
    layer: PathBuf,
    /// Directory holding this node's keys (see `flashlayer keys generate`).
    #[arg(long)]
    keys: PathBuf,
    #[command(flatten)]
    password: PasswordFile,
    /// Data directory.
    #[arg(long)]
    datadir: PathBuf,
    /// JSON-RPC listen address (HTTP and WebSocket).
    #[arg(long, default_value = "127.0.0.1:8545")]
    rpc_addr: SocketAddr,
    /// Metrics and health listen address.
    #[arg(long, default_value = "127.0.0.1:9100")]
    metrics_addr: SocketAddr,
    /// Most transactions in the mempool.
    #[arg(long, default_value_t = 200_000)]
    txpool_max: usize,
    /// Most mempool transactions per sender.
    #[arg(long, default_value_t = 4096)]
    txpool_max_per_sender: usize,
    /// Blocks of state history to keep below the head: `eth_getBalance`, `eth_call`,
    /// `eth_getStorageAt` and `eth_getProof` answer for blocks in this window; older ones get
    /// "historical state ... is not available".
    #[arg(long, value_name = "BLOCKS", default_value_t = flashlayer_storage::history::DEFAULT_HISTORY_BLOCKS)]
    state_history: u64,
    /// The longest a `debug_trace*` request may run, in seconds (a request's `timeout` option
    /// may ask for less; geth's default of 5 s applies when it names none).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rpc_trace_timeout: u64,
    /// Base URL of an L1 block explorer (e.g. https://sepolia.etherscan.io): the live page
    /// links batches and claims to its `/tx/<hash>` pages. Default: Etherscan for mainnet,
    /// Sepolia, Holesky and Hoodi; none for other L1s (hashes are shown unlinked).
    #[arg(long, value_name = "URL", value_parser = flashlayer_node::live::parse_explorer_url)]
    l1_explorer: Option<String>,
    /// p2p listen address (multiaddr); defaults to this node's entry in the layer.
    #[arg(long)]
    p2p_addr: Option<libp2p::Multiaddr>,
    /// Serve the `admin` RPC namespace (block and unblock peers). Keep the RPC port private
    /// when enabled.
    #[arg(long)]
    enable_admin_rpc: bool,
    /// Follow the layer without voting (a key outside the sequencer set): serves RPC,
    /// relays transactions to the validators and executes every committed block.
    #[arg(long)]
    full_node: bool,
    /// Extra peer to keep connected, as a multiaddr ending in /p2p/<peer id> (repeatable).
    #[arg(long = "bootnode", value_name = "MULTIADDR")]
    bootnodes: Vec<libp2p::Multiaddr>,
    /// L1 JSON-RPC endpoint (HTTP), required when the layer settles on L1.
    #[arg(long, value_name = "URL")]
    l1_rpc: Option<String>,
    /// Do not fsync consensus writes (throwaway benchmarks only: a crash may then lose a
    /// vote's backing state).
    #[arg(long)]
    unsafe_no_sync: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    #[command(flatten)]
    limits: PeerLimitArgs,
}

/// What the node tolerates from its peers (docs/operator-guide.md, "What a node tolerates").
#[derive(Debug, Args)]
#[command(next_help_heading = "Peer limits")]
struct PeerLimitArgs {
    /// Most established incoming p2p connections.
    #[arg(long, default_value_t = PeerLimits::default().max_incoming_connections)]
    max_incoming_peers: u32,
    /// Consensus messages per second one validator may send (bursts up to twice that).
    #[arg(long, default_value_t = InboundLimits::default().validator_msgs_per_sec)]
    peer_msgs_per_sec: f64,
    /// MiB of consensus messages per second one validator may send (bursts up to twice that).
    #[arg(long, default_value_t = InboundLimits::default().validator_bytes_per_sec / (1024.0 * 1024.0))]
    peer_mib_per_sec: f64,
    /// Block sync requests per second one peer (validator or not) may send.
    #[arg(long, default_value_t = InboundLimits::default().sync_requests_per_sec)]
    sync_requests_per_sec: f64,
    /// MiB of consensus messages that may wait for the replica, from all peers together.
    #[arg(long, default_value_t = InboundLimits::default().max_queued_bytes >> 20)]
    consensus_queue_mib: u64,
    /// Transaction gossip batches per second one source outside the validator set may publish.
    #[arg(long, default_value_t = PeerLimits::default().gossip_batches_per_sec)]
    gossip_batches_per_sec: f64,
}

impl PeerLimitArgs {
    fn inbound(&self) -> InboundLimits {
        InboundLimits {
            max_queued_bytes: self.consensus_queue_mib << 20,
            validator_msgs_per_sec: self.peer_msgs_per_sec,
            validator_bytes_per_sec: self.peer_mib_per_sec * 1024.0 * 1024.0,
            sync_requests_per_sec: self.sync_requests_per_sec,
            ..InboundLimits::default()
        }
    }

    fn peers(&self) -> PeerLimits {
        PeerLimits {
            max_incoming_connections: self.max_incoming_peers,
            gossip_batches_per_sec: self.gossip_batches_per_sec,
            ..PeerLimits::default()
        }
    }
}

impl NodeCommand {
    /// Runs the node in the foreground.
    pub fn execute(self) -> eyre::Result<()> {
        self.log_format.init_tracing();
        exit_on_panic();
        let options = node::NodeOptions {
            password: self.password.password()?,
            layer: self.layer,
            keys: self.keys,
            datadir: self.datadir,
            rpc_addr: self.rpc_addr,
            metrics_addr: self.metrics_addr,
            pool: mempool::PoolConfig {
                max_txs: self.txpool_max,
                max_per_sender: self.txpool_max_per_sender,
                ..Default::default()
            },
            sync_consensus: !self.unsafe_no_sync,
            p2p_addr: self.p2p_addr,
            admin_rpc: self.enable_admin_rpc,
            full_node: self.full_node,
            bootnodes: self.bootnodes,
            l1_rpc: self.l1_rpc,
            inbound_limits: self.limits.inbound(),
            peer_limits: self.limits.peers(),
            state_history: self.state_history,
            trace_timeout: std::time::Duration::from_secs(self.rpc_trace_timeout),
            l1_explorer: self.l1_explorer,
        };
        // actix actors (the executor) and tokio tasks (RPC) share one multi-threaded runtime.
        actix::System::with_tokio_rt(|| super::runtime().expect("building the tokio runtime"))
            .block_on(node::run(options, shutdown_signal()))?;
        // Everything is on disk (`node::run` synced the database last). Leave without running
        // C++ static destructors: threads the process never joins (the mempool's admission
        // pool, the executor's arbiter, tokio's blocking pool) may still be inside RocksDB, and
        // RocksDB aborts when its statics are torn down under them.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: `_exit` ends the process at once; nothing after it runs.
        unsafe { libc::_exit(0) }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Makes any panic, on any thread, stop the process. hotstuff_rs panics its own threads on
/// store errors and invariant failures, and tokio and actix confine a panic to its task: left
/// alone, either leaves a half-alive node serving RPC on a stalled chain. Down and restarted
/// (by the supervisor) is the state operators can see and fix; everything acknowledged is on
/// disk already.
fn exit_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(%info, "panic: stopping the node");
        default(info);
        std::process::exit(101);
    }));
}
