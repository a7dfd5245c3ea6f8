//! Node assembly: storage, execution, mempool, consensus, RPC and metrics wired together, and
//! their orderly shutdown.

use crate::{
    executor::ExecutorActor,
    keys::NodeKeys,
    layer::LayerDescription,
    lifecycle::Lifecycle,
    mempool::{Mempool, PoolConfig},
    metrics::{self, Metrics},
    rpc::{self, RpcConfig, RpcContext},
    settle,
};
use alloy::primitives::B256;
use eyre::{Context, bail};
use flashlayer_consensus::{
    AppConfig, ConsensusNetwork, FlashApp, FlashSchedule, Inbound, InboundLimits, LocalTransport, Replica,
    ReplicaConfig,
};
use flashlayer_execution::BlockExecutor;
use flashlayer_p2p::{ConsensusTransport, P2p, P2pConfig, PeerLimits};
use flashlayer_storage::Db;
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::sync::broadcast;

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Layer description file.
    pub layer: PathBuf,
    /// Directory with the node's keys.
    pub keys: PathBuf,
    /// Password of encrypted keys.
    pub password: Option<String>,
    /// Data directory (RocksDB lives in `DATADIR/db`).
    pub datadir: PathBuf,
    /// JSON-RPC (HTTP and WebSocket) listen address.
    pub rpc_addr: SocketAddr,
    /// Metrics and health listen address.
    pub metrics_addr: SocketAddr,
    /// Mempool limits.
    pub pool: PoolConfig,
    /// fsync consensus writes (off only for throwaway benchmarks).
    pub sync_consensus: bool,
    /// p2p listen address; defaults to this node's entry in the layer's sequencer set.
    pub p2p_addr: Option<libp2p::Multiaddr>,
    /// Serve the `admin` RPC namespace (peer blocking).
    pub admin_rpc: bool,
    /// Follow the layer without voting: the consensus key must not be in the sequencer set.
    pub full_node: bool,
    /// Extra peers to keep connected (multiaddrs ending in `/p2p/<peer id>`), besides the
    /// layer's own bootnodes.
    pub bootnodes: Vec<libp2p::Multiaddr>,
    /// L1 JSON-RPC endpoint (required when the layer settles on L1).
    pub l1_rpc: Option<String>,
    /// What peers may send as consensus messages (rates, bytes waiting).
    pub inbound_limits: InboundLimits,
    /// Connection and gossip limits.
    pub peer_limits: PeerLimits,
    /// Blocks of state history kept below the head (state reads and proofs at recent blocks).
    pub state_history: u64,
    /// The longest a `debug_trace*` request may run.
    pub trace_timeout: std::time::Duration,
    /// Base URL of an L1 block explorer the live page links batches and claims to (unset:
    /// Etherscan for the public L1s it knows, else none).
    pub l1_explorer: Option<String>,
}

/// Most gossiped transaction batches being admitted at once (each on a blocking thread:
/// sender recovery is CPU work). More are dropped: the node that acknowledged a transaction
/// proposes it itself when it leads, so gossip only makes inclusion faster, and a flood of it
/// must not queue unbounded work.
pub const MAX_GOSSIP_ADMISSIONS: usize = 8;

/// Runs a node until `shutdown` resolves.
pub async fn run(options: NodeOptions, shutdown: impl std::future::Future<Output = ()>) -> eyre::Result<()> {
    let layer = LayerDescription::load(&options.layer)?;
    let keys = NodeKeys::load(&options.keys, options.password.as_deref())?;
    let me = keys.consensus_public();
    let validators = layer.validators()?;
    let joining = match (validators.contains(&me), options.full_node) {
        (false, false) => {
            // Not in the set the layer was created with: an operator the owner approved on L1
            // since (it becomes a validator once the chain applies the change).
            if !approved_on_l1(&layer, &keys, options.l1_rpc.as_deref()).await? {
                bail!(
                    "consensus key {} is not in the layer's sequencer set and not approved to join on L1; pass --full-node to follow the layer without voting, or ask to join (FlashLayer.requestJoin from {})",
                    keys.consensus_public_hex(),
                    keys.settlement_address()
                )
            }
            tracing::info!(key = %keys.consensus_public_hex(), "joining: approved on L1; following the layer until the set change commits, then voting");
            true
        }
        // hotstuff_rs decides who votes from the key alone: a "full node" with a member's key
        // would vote, and two processes voting with one key is equivocation.
        (true, true) => bail!(
            "consensus key {} is in the layer's sequencer set; run it as a validator (without --full-node)",
            keys.consensus_public_hex()
        ),
        (true, false) => {
            tracing::info!(key = %keys.consensus_public_hex(), "validator");
            false
        }
        (false, true) => {
            tracing::info!(key = %keys.consensus_public_hex(), "full node: following the layer without voting");
            false
        }
    };
    std::fs::create_dir_all(&options.datadir)
        .wrap_err_with(|| format!("creating {}", options.datadir.display()))?;
    // For `flashlayer dispose`, which stops the node before deleting its data.
    let pid_file = PidFile::write(&options.datadir)?;
    let db = Db::open(&options.datadir.join("db")).wrap_err("opening the database")?;
    let executor =
        BlockExecutor::open(db.clone(), layer.chain.clone())?.with_history_blocks(options.state_history);
    let head = executor.head().clone();
    tracing::info!(number = head.number, hash = %executor.head_hash(), chain_id = layer.chain.chain_id, "executed head");

    let next_base_fee = layer.chain.next_base_fee(head.gas_used, head.base_fee_per_gas.unwrap_or_default());
    let pool_config = PoolConfig { ordering: layer.ordering, ..options.pool.clone() };
    let mempool = Arc::new(Mempool::new(pool_config, db.clone(), layer.chain.clone(), next_base_fee));
    let restored = mempool.restore_journal()?;
    if restored > 0 {
        tracing::info!(restored, "re-admitted journaled transactions");
    }

    let l1_rpc = match (&layer.l1, &options.l1_rpc) {
        (Some(_), Some(url)) => Some(url.clone()),
        (Some(l1), None) => bail!(
            "the layer settles on L1 (chain {}, contract {}): pass --l1-rpc URL",
            l1.chain_id,
            l1.contract
        ),
        (None, _) => None,
    };
    if let Some(url) = &l1_rpc {
        let genesis_hash =
            db.block_hash(0)?.ok_or_else(|| eyre::eyre!("the database has no genesis block"))?;
        let genesis_state_root =
            db.header(0)?.ok_or_else(|| eyre::eyre!("the database has no genesis header"))?.state_root;
        check_contract_at_start(&layer, url, genesis_hash, genesis_state_root).await?;
        // Settlement retains the state at each batch boundary as the batch closes: until it
        // does, the history window holds (before the executor runs its first block).
        db.hold_pruning_at(db.history_from()?)?;
    }
    let watcher = match &l1_rpc {
        Some(url) => settle::start_watcher(&layer, url)?,
        None => None,
    };
    let lifecycle = Lifecycle::new(layer.end_time, layer.end_block, watcher.clone(), db.clone());
    if let Some(reason) = lifecycle.closed_reason() {
        tracing::info!(%reason, "the layer is closing: no transactions are taken");
    }

    let metrics = Metrics::new();
    let (blocks, _) = broadcast::channel(1024);
    let executed = Arc::new(AtomicU64::new(head.number));
    let waker = ExecutorActor::start(
        executor,
        db.consensus_store(),
        mempool.clone(),
        blocks.clone(),
        executed.clone(),
        metrics.clone(),
    );

    let mut store = db.consensus_store().with_write_hook(move || waker.wake());
    if !options.sync_consensus {
        store = store.without_sync();
    }
    let schedule = Arc::new(FlashSchedule::open(db.consensus_store()));
    let app = FlashApp::new(
        AppConfig {
            gas_limit: layer.chain.gas_limit(),
            max_tx_gas: layer.chain.max_tx_gas(),
            block_interval: layer.block_interval(),
            empty_block_interval: layer.empty_block_interval(),
            max_payload_bytes: max_payload_bytes(&layer),
            genesis_timestamp: layer.chain.genesis.timestamp,
            max_future_drift: Duration::from_secs(15),
            max_past_drift: Duration::from_secs(15),
            chain_id: layer.chain.chain_id,
            end_time: layer.end_time,
            end_block: layer.end_block,
        },
        me,
        schedule.clone(),
        mempool.clone(),
        Arc::new(settle::NodeL1::new(watcher.clone(), db.clone())),
        executed,
    );
    let (inbound, inbox) = flashlayer_consensus::inbox(options.inbound_limits);
    let settlement_in = Arc::new(OnceLock::new());
    let p2p =
        start_p2p(&layer, &keys, &options, joining, inbound.clone(), mempool.clone(), settlement_in.clone())
            .await?;
    let transport: Arc<dyn flashlayer_consensus::Transport> = match &p2p {
        Some(p2p) => Arc::new(ConsensusTransport(p2p.clone())),
        None => Arc::new(LocalTransport),
    };
    let network = ConsensusNetwork::new(me, transport, inbound.clone(), inbox);
    let settlement = match (watcher, &l1_rpc) {
        (Some(watcher), Some(url)) => {
            let gossip: flashlayer_settlement::service::Gossip = match &p2p {
                Some(p2p) => {
                    let p2p = p2p.clone();
                    Arc::new(move |message| p2p.publish_settlement(message))
                }
                None => Arc::new(|_| {}),
            };
            let service = settle::start_service(
                &layer,
                (!options.full_node).then(|| keys.settlement.clone()),
                url,
                watcher,
                db.clone(),
                &blocks,
                gossip,
            )?;
            let handler = service.clone();
            let _ = settlement_in.set(Arc::new(move |_peer, message: &[u8]| handler.on_gossip(message)));
            Some(service)
        }
        _ => None,
    };
    let replica = Replica::start(
        keys.consensus.clone(),
        ReplicaConfig {
            chain_id: layer.chain.chain_id,
            validators,
            max_view_time: Duration::from_millis(layer.max_view_time_ms),
        },
        store,
        schedule.clone(),
        app,
        network,
    )?;

    let series = crate::live::SharedSeries::default();
    tokio::spawn(crate::live::sample(series.clone(), blocks.subscribe(), mempool.clone()));
    let ctx = RpcContext {
        db: db.clone(),
        chain: layer.chain.clone(),
        mempool: mempool.clone(),
        blocks,
        consensus: db.consensus_store(),
        schedule: Some(schedule),
        p2p,
        inbound,
        full_node: options.full_node,
        started_at: head.number,
        settlement,
        lifecycle,
        sequencers: layer
            .sequencers
            .iter()
            .map(|s| Ok((s.verifying_key()?, s.settlement_address)))
            .collect::<eyre::Result<_>>()?,
        traces: rpc::debug::TraceLimits::new(
            rpc::debug::TraceLimits::default_concurrency(),
            options.trace_timeout,
        ),
        l1_explorer: options.l1_explorer.clone().or_else(|| {
            layer.l1.as_ref().and_then(|l1| crate::live::known_l1_explorer(l1.chain_id)).map(Into::into)
        }),
        series,
    };
    let page_methods = rpc::module(ctx.clone(), false).wrap_err("building the live page's methods")?;
    let (rpc_addr, rpc_handle) = rpc::start(
        RpcConfig {
            addr: options.rpc_addr,
            max_request_bytes: 10 * 1024 * 1024,
            max_connections: 1000,
            admin: options.admin_rpc,
        },
        ctx,
    )
    .await
    .wrap_err_with(|| format!("starting JSON-RPC on {}", options.rpc_addr))?;
    let (metrics_addr, metrics_task) = metrics::serve(
        options.metrics_addr,
        metrics,
        mempool,
        db.consensus_store(),
        db.clone(),
        Some(page_methods),
    )
    .await
    .wrap_err_with(|| format!("starting metrics on {}", options.metrics_addr))?;
    tracing::info!(rpc = %format!("http://{rpc_addr}"), ws = %format!("ws://{rpc_addr}"), metrics = %format!("http://{metrics_addr}/metrics"), live = %format!("http://{metrics_addr}/"), "node running");

    shutdown.await;
    tracing::info!("shutting down");
    let _ = rpc_handle.stop();
    rpc_handle.stopped().await;
    metrics_task.abort();
    // hotstuff_rs joins its threads on drop; the leader may be waiting for transactions.
    tokio::task::spawn_blocking(move || drop(replica)).await?;
    actix::System::current().stop();
    db.prepare_exit().wrap_err("syncing the database before exit")?;
    drop(pid_file);
    tracing::info!("stopped");
    Ok(())
}

/// `DATADIR/node.pid` while the node runs.
struct PidFile(PathBuf);

/// Name of the pid file in the data directory.
pub const PID_FILE: &str = "node.pid";

impl PidFile {
    fn write(datadir: &std::path::Path) -> eyre::Result<Self> {
        let path = datadir.join(PID_FILE);
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .wrap_err_with(|| format!("writing {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts libp2p when the layer has other sequencers: this node listens on its own entry's p2p
/// address, keeps the others connected, gossips what its RPC admits and admits what peers
/// gossip (on blocking threads: sender recovery is CPU work).
async fn start_p2p(
    layer: &LayerDescription,
    keys: &NodeKeys,
    options: &NodeOptions,
    joining: bool,
    inbound: Inbound,
    mempool: Arc<Mempool>,
    settlement_in: Arc<OnceLock<flashlayer_p2p::SettlementHandler>>,
) -> eyre::Result<Option<P2p>> {
    if layer.sequencers.len() == 1 && options.p2p_addr.is_none() && !options.full_node && !joining {
        return Ok(None);
    }
    let me = keys.consensus_public();
    let mut peers = layer.bootnodes()?;
    for b in &options.bootnodes {
        peers.push(flashlayer_p2p::parse_bootnode(b)?);
    }
    let mut own = None;
    for s in &layer.sequencers {
        let key = s.verifying_key()?;
        let Some(addr) = &s.p2p else {
            bail!("sequencer {} has no p2p address in the layer description", s.consensus_key)
        };
        let addr: libp2p::Multiaddr = addr.parse().wrap_err_with(|| format!("p2p address {addr:?}"))?;
        if key == me {
            own = Some(addr);
        } else {
            peers.push((flashlayer_p2p::peer_id(&key), addr));
        }
    }
    // A full node (or a joining operator) dials out, so any port will do unless the operator
    // picks one.
    let listen = match (options.p2p_addr.clone().or(own), options.full_node || joining) {
        (Some(addr), _) => addr,
        (None, true) => "/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr"),
        (None, false) => bail!("no p2p address for this node"),
    };
    let gossip_in = mempool.clone();
    let admitting = Arc::new(AtomicUsize::new(0));
    let p2p = P2p::spawn(
        P2pConfig {
            secret: keys.consensus.to_bytes(),
            listen,
            peers,
            chain_id: layer.chain.chain_id,
            limits: options.peer_limits,
        },
        inbound,
        Arc::new(move |peer, txs| {
            if admitting.fetch_add(1, Ordering::AcqRel) >= MAX_GOSSIP_ADMISSIONS {
                admitting.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!(%peer, txs = txs.len(), "gossip admission busy: dropped a transaction batch");
                return;
            }
            let mempool = gossip_in.clone();
            let admitting = admitting.clone();
            tokio::task::spawn_blocking(move || {
                mempool.admit_gossiped(&txs);
                admitting.fetch_sub(1, Ordering::AcqRel);
            });
        }),
        Arc::new(move |peer, message| match settlement_in.get() {
            Some(handler) => handler(peer, message),
            // Settlement starts after p2p (it needs the executed chain); until then relay.
            None => true,
        }),
    )
    .await?;
    let gossip_out = p2p.clone();
    mempool.on_local_admit(move |raw| gossip_out.publish_tx(raw.clone()));
    // What this node acknowledged and still waits is gossiped again (see
    // `Mempool::due_for_regossip`).
    let regossip = p2p.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let due = mempool.due_for_regossip(std::time::Instant::now(), 50_000);
            if !due.is_empty() {
                tracing::debug!(txs = due.len(), "gossiping waiting transactions again");
            }
            for raw in due {
                regossip.publish_tx(raw);
            }
        }
    });
    Ok(Some(p2p))
}

/// Whether the owner approved this node's keys to join on L1 (`consensusKeyOf(settlement
/// address)` is its consensus key).
async fn approved_on_l1(
    layer: &LayerDescription,
    keys: &NodeKeys,
    l1_rpc: Option<&str>,
) -> eyre::Result<bool> {
    use alloy::providers::ProviderBuilder;
    let (Some(l1), Some(url)) = (&layer.l1, l1_rpc) else { return Ok(false) };
    let provider =
        ProviderBuilder::new().connect_http(url.parse().wrap_err_with(|| format!("L1 RPC URL {url:?}"))?);
    let contract = flashlayer_settlement::bindings::FlashLayer::new(l1.contract, provider);
    let key = contract
        .consensusKeyOf(keys.settlement_address())
        .call()
        .await
        .wrap_err_with(|| format!("asking the layer contract at {url} whether this operator may join"))?;
    Ok(key.0 == keys.consensus_public().to_bytes())
}

/// Refuses to start on a contract that does not back the layer description. An L1 that cannot
/// be read yet (down, not synced) does not stop the node, which must keep the layer running
/// through L1 trouble: the check is retried in the background, and a mismatch found then stops
/// the process.
async fn check_contract_at_start(
    layer: &LayerDescription,
    l1_rpc: &str,
    genesis_hash: B256,
    genesis_state_root: B256,
) -> eyre::Result<()> {
    use settle::ContractCheck;
    match settle::check_contract(layer, l1_rpc, genesis_hash, genesis_state_root).await {
        Ok(()) => {
            tracing::info!("the L1 contract backs this layer description (genesis, supply, signers)");
            Ok(())
        }
        Err(ContractCheck::Mismatch(what)) => {
            bail!("the L1 contract does not match the layer description: {what}; refusing to run")
        }
        Err(ContractCheck::Unreachable(e)) => {
            tracing::warn!(error = %e, "cannot check the L1 contract against the layer description yet; retrying in the background");
            let (layer, url) = (layer.clone(), l1_rpc.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    match settle::check_contract(&layer, &url, genesis_hash, genesis_state_root).await {
                        Ok(()) => {
                            tracing::info!(
                                "the L1 contract backs this layer description (genesis, supply, signers)"
                            );
                            return;
                        }
                        Err(ContractCheck::Mismatch(what)) => {
                            tracing::error!(%what, "the L1 contract does not match the layer description; stopping");
                            std::process::exit(1);
                        }
                        Err(ContractCheck::Unreachable(_)) => {}
                    }
                }
            });
            Ok(())
        }
    }
}

/// The largest block payload proposals may carry: 16 MiB, or on an `l1-blobs` layer what keeps
/// every batch within its blobs (proposals above it are refused, so a Byzantine leader cannot
/// make a batch that cannot be posted).
fn max_payload_bytes(layer: &LayerDescription) -> usize {
    use flashlayer_settlement::data::{BLOB_MAX_BLOCK_BYTES, DataAvailability};
    match layer.l1.as_ref().map(|l1| l1.data_availability) {
        Some(DataAvailability::L1Blobs) => BLOB_MAX_BLOCK_BYTES,
        _ => 16 * 1024 * 1024,
    }
}
