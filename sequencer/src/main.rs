//! The `flashlayer` command line: see the library docs for the parts it runs.

use flashlayer::{devnet, keys, mempool, node};

use clap::{Parser, Subcommand, ValueEnum};
use std::{net::SocketAddr, path::PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "flashlayer",
    version,
    about = "Sequencer node for disposable, application-tailored EVM rollups"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a sequencer node of a layer.
    Node {
        /// Layer description (JSON).
        #[arg(long)]
        layer: PathBuf,
        /// Directory holding this node's keys (see `flashlayer keys generate`).
        #[arg(long)]
        keys: PathBuf,
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
        /// Do not fsync consensus writes (throwaway benchmarks only: a crash may then lose a
        /// vote's backing state).
        #[arg(long)]
        unsafe_no_sync: bool,
        /// Log format.
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
    },
    /// Write a development layer (layer.json, node keys, dev accounts) into a directory.
    Init {
        /// Directory to write into.
        #[arg(long)]
        dir: PathBuf,
        /// Number of validators.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// L2 chain id.
        #[arg(long, default_value_t = 13370)]
        chain_id: u64,
        /// Number of prefunded dev accounts.
        #[arg(long, default_value_t = 10)]
        accounts: u32,
    },
    /// Run a local devnet: a layer and its nodes as separate processes, until Ctrl-C.
    Devnet {
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
    },
    /// Manage node keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a consensus (ed25519) and a settlement (secp256k1) key into a directory.
    Generate {
        /// Directory to write the keys into (files are never overwritten).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show the public side of the keys in a directory.
    Show {
        /// Keys directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match format {
        LogFormat::Human => fmt().with_env_filter(filter).init(),
        LogFormat::Json => fmt().json().with_env_filter(filter).init(),
    }
}

fn log_format_name(format: LogFormat) -> &'static str {
    match format {
        LogFormat::Human => "human",
        LogFormat::Json => "json",
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("flashlayer").build()
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

fn main() -> eyre::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Node {
            layer,
            keys,
            datadir,
            rpc_addr,
            metrics_addr,
            txpool_max,
            txpool_max_per_sender,
            unsafe_no_sync,
            p2p_addr,
            enable_admin_rpc,
            full_node,
            bootnodes,
            log_format,
        } => {
            init_tracing(log_format);
            exit_on_panic();
            let options = node::NodeOptions {
                layer,
                keys,
                datadir,
                rpc_addr,
                metrics_addr,
                pool: mempool::PoolConfig {
                    max_txs: txpool_max,
                    max_per_sender: txpool_max_per_sender,
                    ..Default::default()
                },
                sync_consensus: !unsafe_no_sync,
                p2p_addr,
                admin_rpc: enable_admin_rpc,
                full_node,
                bootnodes,
            };
            // actix actors (the executor) and tokio tasks (RPC) share one multi-threaded
            // runtime.
            actix::System::with_tokio_rt(|| runtime().expect("building the tokio runtime"))
                .block_on(node::run(options, shutdown_signal()))
        }
        Command::Init { dir, nodes, chain_id, accounts } => {
            let layer = devnet::init(&dir, nodes, chain_id, accounts)?;
            println!(
                "wrote {} (chain id {}, {} sequencer(s))",
                dir.join("layer.json").display(),
                layer.chain.chain_id,
                nodes
            );
            Ok(())
        }
        Command::Devnet { nodes, dir, fresh, chain_id, base_port, log_format } => {
            runtime()?.block_on(devnet::run(devnet::DevnetOptions {
                dir,
                nodes,
                chain_id,
                fresh,
                base_port,
                log_format: log_format_name(log_format).into(),
            }))
        }
        Command::Keys { command: KeysCommand::Generate { dir } } => {
            let keys = keys::NodeKeys::generate();
            keys.save(&dir)?;
            println!("consensus key (ed25519): {}", keys.consensus_public_hex());
            println!("settlement address:      {}", keys.settlement_address());
            println!("written to {}", dir.display());
            Ok(())
        }
        Command::Keys { command: KeysCommand::Show { dir } } => {
            let keys = keys::NodeKeys::load(&dir)?;
            println!("consensus key (ed25519): {}", keys.consensus_public_hex());
            println!("settlement address:      {}", keys.settlement_address());
            Ok(())
        }
    }
}
