//! The `flashlayer` command line: see the library docs for the parts it runs.

use flashlayer::{bridge, create, devnet, dispose, keys, layer, lifecycle, loadgen, mempool, node};

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
        /// Password of encrypted keys (first line of this file); also FLASHLAYER_KEYS_PASSWORD.
        #[arg(long)]
        password_file: Option<PathBuf>,
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
        /// Settle on this L1 (JSON-RPC URL): deploys the layer contract there, funds the
        /// settlement keys and writes the layer's `l1` section.
        #[arg(long, value_name = "URL")]
        l1_rpc: Option<String>,
        /// Private key (hex) that deploys and funds on L1; anvil's first dev key by default.
        #[arg(long, value_name = "HEX")]
        l1_deployer_key: Option<String>,
        /// Block gas limit of the layer.
        #[arg(long, default_value_t = layer::DEV_GAS_LIMIT)]
        gas_limit: u64,
        /// Milliseconds between blocks while there are transactions.
        #[arg(long, default_value_t = layer::DEV_BLOCK_INTERVAL_MS)]
        block_interval_ms: u64,
        #[command(flatten)]
        settlement: SettlementArgs,
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
        #[command(flatten)]
        settlement: SettlementArgs,
    },
    /// Manage node keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Flood JSON-RPC endpoints (a layer's nodes, anvil, any Ethereum node) with signed
    /// transactions and measure throughput and submit-to-inclusion latency.
    Loadgen(Box<loadgen::LoadgenArgs>),
    /// Move ETH between the L1 and a layer.
    Bridge {
        #[command(subcommand)]
        command: BridgeCommand,
    },
    /// Change a live layer's sequencer set (owner-approved requests on L1; the cluster applies
    /// them at a batch boundary).
    Membership {
        #[command(subcommand)]
        command: MembershipCommand,
    },
    /// Create a layer on an L1: check the parameters, deploy its contract (the owner's key pays
    /// and locks the genesis ETH), write the layer description operators start from.
    Create(Box<CreateArgs>),
    /// Where a layer stands: phase, heights, finality, peers, sequencer set, batches, time left.
    Status {
        /// A node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545")]
        rpc: String,
        /// Print flash_status as JSON.
        #[arg(long)]
        json: bool,
        /// The layer description: with --l1-rpc, report from the L1 when no node answers.
        #[arg(long, requires = "l1_rpc")]
        layer: Option<PathBuf>,
        /// L1 JSON-RPC URL (with --layer).
        #[arg(long, requires = "layer")]
        l1_rpc: Option<String>,
    },
    /// Claim an account's final L2 ETH balance on L1, once the layer is settled.
    Claim {
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// Private key (hex) paying the L1 gas; its address is the account unless --account.
        #[arg(long)]
        private_key: String,
        /// The account to pay (anyone may claim for anyone; the ETH goes to the account).
        #[arg(long)]
        account: Option<alloy::primitives::Address>,
        /// A node of the layer (for the proof).
        #[arg(long, conflicts_with = "archive", required_unless_present = "archive")]
        rpc: Option<String>,
        /// An archive written by `flashlayer dispose --archive` (for the proof, once no node runs).
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Seconds to wait for the layer to be settled and its challenge window to pass.
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
    /// Stop a node and delete its data once the layer's final batch is final on L1.
    Dispose {
        /// The layer description.
        #[arg(long)]
        layer: PathBuf,
        /// The node's data directory.
        #[arg(long)]
        datadir: PathBuf,
        /// L1 JSON-RPC URL (to check the layer is settled).
        #[arg(long)]
        l1_rpc: Option<String>,
        /// First export the chain (blocks, receipts, final balances) to this file (JSON Lines).
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Dispose even if the final batch is not final on L1.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MembershipCommand {
    /// An operator asks to join, from the settlement key in its keys directory.
    RequestJoin {
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// The operator's keys directory.
        #[arg(long)]
        keys: PathBuf,
        /// Password of encrypted keys (first line of this file); also FLASHLAYER_KEYS_PASSWORD.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// The owner approves a join request.
    Approve {
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// The owner's private key (hex).
        #[arg(long, env = "FLASHLAYER_OWNER_KEY", hide_env_values = true)]
        owner_key: String,
        /// The operator's settlement address.
        #[arg(long)]
        operator: alloy::primitives::Address,
    },
    /// The owner, or the operator itself, announces the operator's departure.
    Leave {
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// Private key (hex) of the owner or of the operator's settlement key.
        #[arg(long)]
        private_key: String,
        /// The operator's settlement address.
        #[arg(long)]
        operator: alloy::primitives::Address,
    },
}

/// `flashlayer create`'s flags (each overrides the parameter file).
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// L1 JSON-RPC URL.
    #[arg(long)]
    l1_rpc: String,
    /// The owner's private key (hex): deploys, pays, may close the layer early.
    #[arg(long, env = "FLASHLAYER_OWNER_KEY", hide_env_values = true)]
    owner_key: String,
    /// Parameter file (JSON; see docs/lifecycle.md).
    #[arg(long)]
    params: Option<PathBuf>,
    /// Where to write the layer description.
    #[arg(long, default_value = "layer.json")]
    out: PathBuf,
    /// Layer name.
    #[arg(long)]
    name: Option<String>,
    /// L2 chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// A sequencer: CONSENSUS_KEY,SETTLEMENT_ADDRESS,P2P_MULTIADDR (repeatable; added to the file's).
    #[arg(long = "sequencer", value_parser = create::parse_sequencer)]
    sequencers: Vec<layer::Sequencer>,
    /// Signatures a batch needs (default: just over two thirds).
    #[arg(long)]
    threshold: Option<usize>,
    /// Lifetime from now, in seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Deadline, Unix seconds.
    #[arg(long)]
    end_time: Option<u64>,
    /// L2 block that ends the layer.
    #[arg(long)]
    end_block: Option<u64>,
    /// Milliseconds between blocks.
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Block gas limit.
    #[arg(long)]
    gas_limit: Option<u64>,
    /// Transaction ordering: fcfs or priority.
    #[arg(long)]
    ordering: Option<mempool::OrderingPolicy>,
    /// No fees (base fee zero; transactions may pay nothing).
    #[arg(long)]
    gasless: bool,
    /// Gas token name.
    #[arg(long)]
    token_name: Option<String>,
    /// Gas token symbol.
    #[arg(long)]
    token_symbol: Option<String>,
    /// Seconds after a batch lands before its messages / the final balances can be taken out.
    #[arg(long)]
    challenge_window: Option<u64>,
    /// ETH (decimal) the owner sends each settlement key for submission gas.
    #[arg(long)]
    fund_settlement: Option<String>,
}

#[derive(Debug, Subcommand)]
enum BridgeCommand {
    /// Deposit ETH on L1; it is credited on the layer once the L1 block is confirmed.
    Deposit {
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// Private key (hex) paying on L1.
        #[arg(long)]
        private_key: String,
        /// L2 recipient (default: the payer's address).
        #[arg(long)]
        to: Option<alloy::primitives::Address>,
        /// Amount in ETH (decimal, e.g. 0.5).
        #[arg(long)]
        amount: String,
    },
    /// Start a withdrawal on the layer (an L2->L1 message); relay it once its batch lands.
    Withdraw {
        /// The layer's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// Private key (hex) paying on L2.
        #[arg(long)]
        private_key: String,
        /// L1 recipient (default: the payer's address).
        #[arg(long)]
        to: Option<alloy::primitives::Address>,
        /// Amount in ETH (decimal).
        #[arg(long)]
        amount: String,
    },
    /// Relay an L2->L1 message (a withdrawal) on L1 once its batch is accepted there.
    Relay {
        /// The layer's JSON-RPC URL (for the proof).
        #[arg(long)]
        rpc: String,
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// Private key (hex) paying the L1 gas (anyone may relay).
        #[arg(long)]
        private_key: String,
        /// Message hash (as `bridge withdraw` printed it).
        #[arg(long)]
        message: alloy::primitives::B256,
        /// Seconds to wait for the batch to be accepted.
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// Pay back a deposit the layer never credited (made after its final batch's last one),
    /// once the layer is settled.
    Refund {
        /// L1 JSON-RPC URL.
        #[arg(long)]
        l1_rpc: String,
        /// The layer's contract on L1.
        #[arg(long)]
        contract: alloy::primitives::Address,
        /// Private key (hex) paying the L1 gas (anyone may; the ETH goes to the depositor).
        #[arg(long)]
        private_key: String,
        /// The deposit's nonce (as `bridge deposit` printed it).
        #[arg(long)]
        nonce: u64,
    },
}

fn private_key(hex: &str) -> eyre::Result<alloy::signers::local::PrivateKeySigner> {
    hex.parse().map_err(|e| eyre::eyre!("--private-key: {e}"))
}

fn ether(amount: &str) -> eyre::Result<alloy::primitives::U256> {
    alloy::primitives::utils::parse_ether(amount).map_err(|e| eyre::eyre!("--amount {amount:?}: {e}"))
}

/// Settlement parameters of a new layer.
#[derive(Debug, Clone, clap::Args)]
struct SettlementArgs {
    /// Most L2 blocks per settlement batch.
    #[arg(long, default_value_t = 50)]
    batch_blocks: u64,
    /// Longest span of a batch, in seconds of L2 block time.
    #[arg(long, default_value_t = 5)]
    batch_interval: u64,
    /// L1 blocks a deposit must be buried under before it is credited.
    #[arg(long, default_value_t = 1)]
    confirmations: u64,
    /// Seconds a signed batch waits for its designated submitter before the next one submits.
    #[arg(long, default_value_t = 5)]
    submit_timeout: u64,
    /// Seconds after a batch is accepted before its messages may be relayed.
    #[arg(long, default_value_t = 0)]
    challenge_window: u64,
}

impl SettlementArgs {
    fn setup(&self, rpc: String, deployer: alloy::signers::local::PrivateKeySigner) -> devnet::L1Setup {
        devnet::L1Setup {
            rpc,
            deployer,
            batch_blocks: self.batch_blocks,
            batch_interval_secs: self.batch_interval,
            confirmations: self.confirmations,
            submit_timeout_secs: self.submit_timeout,
            challenge_window: self.challenge_window,
            threshold: None,
            fund_settlement: alloy::primitives::utils::parse_ether(
                &devnet::DEV_SETTLEMENT_FUNDING_ETH.to_string(),
            )
            .expect("a whole number of ETH"),
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a consensus (ed25519) and a settlement (secp256k1) key into a directory,
    /// encrypted under a password (Ethereum keystore v3) or, with --plain, as 0600 hex files.
    Generate {
        /// Directory to write the keys into (files are never overwritten).
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        protection: KeyProtection,
    },
    /// Show the public side of the keys in a directory (consensus key, peer id, settlement
    /// address: what the layer's owner needs), and the --sequencer spec for `create`.
    Show {
        /// Keys directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Import existing keys into a new keys directory (a key not given is generated).
    Import {
        /// Directory to write the keys into.
        #[arg(long)]
        dir: PathBuf,
        /// Settlement key from an Ethereum keystore v3 file (geth, cast, a wallet).
        #[arg(long, conflicts_with = "settlement_key")]
        settlement_keystore: Option<PathBuf>,
        /// The password of --settlement-keystore (first line of this file).
        #[arg(long, requires = "settlement_keystore")]
        keystore_password_file: Option<PathBuf>,
        /// Settlement key as hex.
        #[arg(long)]
        settlement_key: Option<String>,
        /// Consensus (ed25519) secret key as hex (32 bytes).
        #[arg(long)]
        consensus_key: Option<String>,
        #[command(flatten)]
        protection: KeyProtection,
    },
    /// Export the keys of a directory as keystore v3 files (a backup; `settlement.json`
    /// imports into any Ethereum wallet), encrypted under the keys' password.
    Export {
        /// Keys directory.
        #[arg(long)]
        dir: PathBuf,
        /// Directory to write `consensus.json` and `settlement.json` into.
        #[arg(long)]
        out: PathBuf,
        /// The keys' password (first line of this file); also FLASHLAYER_KEYS_PASSWORD.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// How new keys are kept at rest.
#[derive(Debug, Clone, clap::Args)]
struct KeyProtection {
    /// Encrypt under the password in this file (first line); also FLASHLAYER_KEYS_PASSWORD.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Store plain hex files with mode 0600 (devnets only).
    #[arg(long, conflicts_with = "password_file")]
    plain: bool,
}

impl KeyProtection {
    fn save(&self, keys: &keys::NodeKeys, dir: &std::path::Path) -> eyre::Result<()> {
        if self.plain {
            return keys.save(dir);
        }
        match keys::password(self.password_file.as_deref())? {
            Some(password) => keys.save_encrypted(dir, &password),
            None => eyre::bail!(
                "give a password to encrypt the keys (--password-file FILE or {}), or --plain for a devnet",
                keys::PASSWORD_ENV
            ),
        }
    }
}

fn print_public(keys: &keys::PublicKeys) {
    println!("consensus key (ed25519): {}", keys.consensus_key);
    println!("peer id:                 {}", keys.peer_id);
    println!("settlement address:      {}", keys.settlement_address);
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
            password_file,
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
            l1_rpc,
            log_format,
        } => {
            init_tracing(log_format);
            exit_on_panic();
            let password = keys::password(password_file.as_deref())?;
            let options = node::NodeOptions {
                layer,
                keys,
                password,
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
                l1_rpc,
            };
            // actix actors (the executor) and tokio tasks (RPC) share one multi-threaded
            // runtime.
            actix::System::with_tokio_rt(|| runtime().expect("building the tokio runtime"))
                .block_on(node::run(options, shutdown_signal()))
        }
        Command::Init {
            dir,
            nodes,
            chain_id,
            accounts,
            l1_rpc,
            l1_deployer_key,
            gas_limit,
            block_interval_ms,
            settlement,
        } => {
            let mut layer = devnet::init(&dir, nodes, chain_id, accounts, gas_limit, block_interval_ms)?;
            if let Some(rpc) = l1_rpc {
                let deployer = match l1_deployer_key {
                    Some(key) => key.parse().map_err(|e| eyre::eyre!("--l1-deployer-key: {e}"))?,
                    None => devnet::dev_accounts(1)?.remove(0).0,
                };
                runtime()?.block_on(devnet::attach_l1(&mut layer, &settlement.setup(rpc, deployer)))?;
                layer.save(&dir.join("layer.json"))?;
                let l1 = layer.l1.as_ref().expect("attached");
                println!("layer contract {} on L1 chain {}", l1.contract, l1.chain_id);
            }
            println!(
                "wrote {} (chain id {}, {} sequencer(s))",
                dir.join("layer.json").display(),
                layer.chain.chain_id,
                nodes
            );
            Ok(())
        }
        Command::Devnet {
            nodes,
            dir,
            fresh,
            chain_id,
            base_port,
            log_format,
            no_l1,
            anvil,
            lifetime,
            settlement,
        } => {
            let l1 = (!no_l1).then(|| devnet::DevnetL1Options {
                anvil,
                setup: settlement.setup(String::new(), devnet::dev_accounts(1).expect("dev key").remove(0).0),
            });
            runtime()?.block_on(devnet::run(devnet::DevnetOptions {
                l1,
                dir,
                nodes,
                chain_id,
                fresh,
                base_port,
                log_format: log_format_name(log_format).into(),
                lifetime,
            }))
        }
        Command::Loadgen(args) => {
            // Quiet by default: the progress display is the output.
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
            tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
            runtime()?.block_on(loadgen::run(*args))?;
            Ok(())
        }
        Command::Bridge { command } => {
            let rt = runtime()?;
            match command {
                BridgeCommand::Deposit { l1_rpc, contract, private_key: key, to, amount } => {
                    let key = private_key(&key)?;
                    let to = to.unwrap_or(key.address());
                    rt.block_on(bridge::deposit(&l1_rpc, contract, &key, to, ether(&amount)?))?;
                }
                BridgeCommand::Withdraw { rpc, private_key: key, to, amount } => {
                    let key = private_key(&key)?;
                    let to = to.unwrap_or(key.address());
                    rt.block_on(bridge::withdraw(&rpc, &key, to, ether(&amount)?))?;
                }
                BridgeCommand::Refund { l1_rpc, contract, private_key: key, nonce } => {
                    let key = private_key(&key)?;
                    rt.block_on(bridge::refund(&l1_rpc, contract, &key, nonce))?;
                }
                BridgeCommand::Relay { rpc, l1_rpc, contract, private_key: key, message, wait } => {
                    let key = private_key(&key)?;
                    rt.block_on(bridge::relay(
                        &rpc,
                        &l1_rpc,
                        contract,
                        &key,
                        message,
                        std::time::Duration::from_secs(wait),
                    ))?;
                }
            }
            Ok(())
        }
        Command::Create(args) => {
            let args = *args;
            let owner = args.owner_key.parse().map_err(|e| eyre::eyre!("--owner-key: {e}"))?;
            let file = match &args.params {
                Some(path) => create::CreateParams::load(path)?,
                None => create::CreateParams::default(),
            };
            let token = match (args.token_name, args.token_symbol) {
                (None, None) => None,
                (name, symbol) => {
                    let base = file.token.clone().unwrap_or_default();
                    Some(layer::GasToken {
                        name: name.unwrap_or(base.name),
                        symbol: symbol.unwrap_or(base.symbol),
                    })
                }
            };
            let flags = create::CreateParams {
                name: args.name,
                chain_id: args.chain_id,
                sequencers: args.sequencers,
                threshold: args.threshold,
                duration_secs: args.duration,
                end_time: args.end_time,
                end_block: args.end_block,
                block_interval_ms: args.block_interval_ms,
                gas_limit: args.gas_limit,
                ordering: args.ordering,
                gasless: args.gasless.then_some(true),
                token,
                challenge_window_secs: args.challenge_window,
                fund_settlement_eth: args.fund_settlement,
                ..Default::default()
            };
            let params = file.overridden_by(flags);
            let created = runtime()?.block_on(create::create(params, &args.l1_rpc, owner, &args.out))?;
            let l1 = created.layer.l1.as_ref().expect("created on L1");
            println!(
                "created layer {:?}: contract {} on L1 chain {} (block {}), {} sequencers, threshold {}",
                created.layer.name,
                l1.contract,
                l1.chain_id,
                l1.deployed_at,
                created.layer.sequencers.len(),
                l1.threshold
            );
            if let Some(end) = created.layer.end_time {
                println!("ends at {end} (Unix time), or earlier if the owner closes it on L1");
            }
            println!(
                "wrote {}; operators start with: flashlayer node --layer {} --keys <dir> --datadir <dir> --l1-rpc {}",
                created.path.display(),
                created.path.display(),
                args.l1_rpc
            );
            Ok(())
        }
        Command::Membership { command } => {
            let rt = runtime()?;
            match command {
                MembershipCommand::RequestJoin { l1_rpc, contract, keys: dir, password_file } => {
                    let keys =
                        keys::NodeKeys::load(&dir, keys::password(password_file.as_deref())?.as_deref())?;
                    let consensus = alloy::primitives::B256::from(keys.consensus_public().to_bytes());
                    rt.block_on(bridge::request_join(&l1_rpc, contract, &keys.settlement, consensus))?;
                }
                MembershipCommand::Approve { l1_rpc, contract, owner_key, operator } => {
                    let owner = owner_key.parse().map_err(|e| eyre::eyre!("--owner-key: {e}"))?;
                    rt.block_on(bridge::approve_join(&l1_rpc, contract, &owner, operator))?;
                }
                MembershipCommand::Leave { l1_rpc, contract, private_key: key, operator } => {
                    let key = private_key(&key)?;
                    rt.block_on(bridge::request_leave(&l1_rpc, contract, &key, operator))?;
                }
            }
            Ok(())
        }
        Command::Status { rpc, json, layer, l1_rpc } => {
            let layer = layer.map(|path| layer::LayerDescription::load(&path)).transpose()?;
            runtime()?.block_on(lifecycle::print_status(&rpc, json, layer.as_ref(), l1_rpc.as_deref()))
        }
        Command::Claim { l1_rpc, contract, private_key: key, account, rpc, archive, wait } => {
            let key = private_key(&key)?;
            let account = account.unwrap_or(key.address());
            let source = match (&rpc, &archive) {
                (Some(rpc), _) => dispose::ProofSource::Rpc(rpc),
                (None, Some(path)) => dispose::ProofSource::Archive(path),
                (None, None) => eyre::bail!("pass --rpc or --archive"),
            };
            runtime()?.block_on(dispose::claim(
                source,
                &l1_rpc,
                contract,
                &key,
                account,
                std::time::Duration::from_secs(wait),
            ))?;
            Ok(())
        }
        Command::Dispose { layer, datadir, l1_rpc, archive, force } => runtime()?.block_on(dispose::dispose(
            &layer,
            &datadir,
            l1_rpc.as_deref(),
            archive.as_deref(),
            force,
        )),
        Command::Keys { command: KeysCommand::Generate { dir, protection } } => {
            let keys = keys::NodeKeys::generate();
            protection.save(&keys, &dir)?;
            print_public(&keys.public());
            println!(
                "written to {} ({})",
                dir.display(),
                if protection.plain { "plain, mode 0600" } else { "encrypted, keystore v3" }
            );
            Ok(())
        }
        Command::Keys { command: KeysCommand::Show { dir } } => {
            let public = keys::NodeKeys::load_public(&dir)?;
            print_public(&public);
            println!(
                "sequencer spec:          {},{},/ip4/<public ip>/tcp/<p2p port>",
                public.consensus_key, public.settlement_address
            );
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Import {
                    dir,
                    settlement_keystore,
                    keystore_password_file,
                    settlement_key,
                    consensus_key,
                    protection,
                },
        } => {
            let fresh = keys::NodeKeys::generate();
            let settlement = match (settlement_keystore, settlement_key) {
                (Some(path), _) => {
                    let password = keys::password(keystore_password_file.as_deref())?.ok_or_else(|| {
                        eyre::eyre!("--keystore-password-file is needed to read {}", path.display())
                    })?;
                    keys::read_keystore(&path, &password)?
                }
                (None, Some(hex)) => hex::decode(hex.trim().trim_start_matches("0x"))
                    .map_err(|e| eyre::eyre!("--settlement-key: {e}"))?,
                (None, None) => fresh.settlement.to_bytes().to_vec(),
            };
            let consensus = match consensus_key {
                Some(hex) => hex::decode(hex.trim().trim_start_matches("0x"))
                    .map_err(|e| eyre::eyre!("--consensus-key: {e}"))?,
                None => fresh.consensus.to_bytes().to_vec(),
            };
            let keys = keys::NodeKeys::from_secrets(&consensus, &settlement)?;
            protection.save(&keys, &dir)?;
            print_public(&keys.public());
            println!("imported into {}", dir.display());
            Ok(())
        }
        Command::Keys { command: KeysCommand::Export { dir, out, password_file } } => {
            let password = keys::password(password_file.as_deref())?.ok_or_else(|| {
                eyre::eyre!(
                    "exported keys are always encrypted: give a password (--password-file or {})",
                    keys::PASSWORD_ENV
                )
            })?;
            let keys = keys::NodeKeys::load(&dir, Some(&password))?;
            keys.export(&out, &password)?;
            println!(
                "exported to {}/consensus.json and {}/settlement.json (keystore v3)",
                out.display(),
                out.display()
            );
            Ok(())
        }
    }
}
