//! Ethereum JSON-RPC over HTTP and WebSocket (jsonrpsee), so any wallet or library works
//! against a node unchanged.
//!
//! One API trait and handler per namespace: [`eth`] (chain reads, calls, transactions, logs,
//! filters, subscriptions), [`debug`] (`debug_trace*`, off the hot threads), [`misc`] (`net_*`, `web3_*`, `txpool_*`, `flash_*`). Errors use
//! geth's codes and messages ([`error`]). [`convert`] turns stored blocks and receipts into
//! alloy's RPC types.

pub mod convert;
pub mod debug;
pub mod error;
pub mod eth;
pub mod filters;
pub mod misc;

use crate::mempool::Mempool;
use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    primitives::BlockNumber,
};
use flashlayer_execution::evm_env;
use flashlayer_execution::{ChainConfig, ExecutedBlock};
use flashlayer_storage::{ConsensusStore, Db, StateReader};
use jsonrpsee::{
    RpcModule,
    server::{Server, ServerConfig, ServerHandle},
};
use std::{net::SocketAddr, sync::Arc};
use tokio::sync::broadcast;

/// What every RPC handler reads from: the node's database and mempool, the layer, and the
/// stream of executed blocks.
#[derive(Debug, Clone)]
pub struct RpcContext {
    /// The node's database.
    pub db: Db,
    /// The layer's execution parameters.
    pub chain: ChainConfig,
    /// The mempool.
    pub mempool: Arc<Mempool>,
    /// Executed blocks, as they are written.
    pub blocks: broadcast::Sender<Arc<ExecutedBlock>>,
    /// The consensus block tree (for `flash_status`).
    pub consensus: ConsensusStore,
    /// The leader schedule (for `flash_status`).
    pub schedule: Option<Arc<flashlayer_consensus::FlashSchedule>>,
    /// The p2p service, when the layer has other sequencers.
    pub p2p: Option<flashlayer_p2p::P2p>,
    /// The consensus inbox: the committed heights peers advertise (sync state).
    pub inbound: flashlayer_consensus::Inbound,
    /// Whether this node follows without voting.
    pub full_node: bool,
    /// Executed head when the node started (`eth_syncing`'s `startingBlock`).
    pub started_at: BlockNumber,
    /// Settlement on L1, when the layer has it (`safe` / `finalized`, batches, proofs).
    pub settlement: Option<flashlayer_settlement::service::Settlement>,
    /// Where the layer is in its life (admission stops once it is closing).
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// The layer description's sequencer set: consensus key and settlement address.
    pub sequencers: Vec<(flashlayer_consensus::ValidatorKey, alloy::primitives::Address)>,
    /// How many `debug_trace*` run at once, and for how long at most.
    pub traces: debug::TraceLimits,
    /// Base URL of the L1 block explorer `flash_batches` names, if any.
    pub l1_explorer: Option<String>,
    /// The last minutes, second by second, for the live page's charts (`flash_liveSeries`).
    pub series: crate::live::SharedSeries,
}

/// How far a peer's advertised height may run ahead of ours before we call ourselves behind:
/// advertisements are a few seconds old, so a node in step never trails them by more than a
/// block in flight.
const SYNC_SLACK: u64 = 2;

/// Where this node stands against the chain its peers have committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncState {
    /// Executed head when the node started.
    pub starting_block: BlockNumber,
    /// Last executed block.
    pub executed: BlockNumber,
    /// Last committed block (L2 numbering) in this node's block tree.
    pub committed: BlockNumber,
    /// Highest committed block any validator advertised, or ours if higher.
    pub highest: BlockNumber,
}

impl SyncState {
    /// Behind the validators (block sync running) or execution trailing the commits.
    pub fn syncing(&self) -> bool {
        self.highest > self.committed + SYNC_SLACK || self.committed > self.executed + SYNC_SLACK
    }
}

impl RpcContext {
    /// Number of the executed head.
    pub fn head(&self) -> Result<BlockNumber, error::RpcError> {
        Ok(self.db.head_number()?.unwrap_or_default())
    }

    /// Resolves a block tag or number to a block number (`None`: no such block).
    ///
    /// `latest` is the executed head (HotStuff-committed: its order is final); `safe` is the
    /// last block of the last batch the L1 contract accepted, `finalized` the same as of the
    /// L1's finalized block (both never past the executed head). On a layer without an L1 the
    /// commit is the strongest finality there is and both name the head. `pending` is the head
    /// too (the next block's contents are the leader's to choose).
    pub fn resolve_number(&self, tag: BlockNumberOrTag) -> Result<Option<BlockNumber>, error::RpcError> {
        let head = self.head()?;
        Ok(match tag {
            BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized if self.settlement.is_some() => {
                let status = self.settlement.as_ref().map(|s| s.status()).unwrap_or_default();
                let settled =
                    if tag == BlockNumberOrTag::Safe { status.safe_block } else { status.finalized_block };
                Some(settled.min(head))
            }
            BlockNumberOrTag::Latest
            | BlockNumberOrTag::Pending
            | BlockNumberOrTag::Safe
            | BlockNumberOrTag::Finalized => Some(head),
            BlockNumberOrTag::Earliest => Some(0),
            BlockNumberOrTag::Number(n) => (n <= head).then_some(n),
        })
    }

    /// Committed and executed heights against what the validators advertise.
    pub fn sync_state(&self) -> Result<SyncState, error::RpcError> {
        let executed = self.head()?;
        // Consensus heights count from 0 at the first block after genesis.
        let committed = flashlayer_consensus::committed::committed_height(&self.consensus)
            .ok()
            .flatten()
            .map_or(0, |h| h + 1);
        let validators = flashlayer_consensus::status(&self.consensus, None).validators;
        let advertised = self
            .inbound
            .advertised_heights()
            .into_iter()
            .filter(|(key, _)| validators.contains(key))
            .map(|(_, h)| h + 1)
            .max()
            .unwrap_or(0);
        Ok(SyncState {
            starting_block: self.started_at,
            executed,
            committed,
            highest: advertised.max(committed),
        })
    }

    /// The environment and state a call at block `at` runs in (`None`: the head, in the
    /// context of the next block, as before; geth runs a call at block N on N's state, in N's
    /// own block context).
    pub fn call_env(&self, at: Option<u64>) -> Result<(alloy_evm::EvmEnv, StateReader), error::RpcError> {
        Ok(match at {
            None => {
                let head = self.db.header(self.head()?)?.ok_or(error::RpcError::HeaderNotFound)?;
                let env = evm_env(
                    &self.chain,
                    head.number + 1,
                    head.timestamp,
                    self.mempool.next_base_fee(),
                    head.mix_hash,
                );
                (env, StateReader::new(self.db.clone()))
            }
            Some(n) => {
                let header = self.db.header(n)?.ok_or(error::RpcError::HeaderNotFound)?;
                let base_fee = header.base_fee_per_gas.unwrap_or_default();
                let env = evm_env(&self.chain, n, header.timestamp, base_fee, header.mix_hash);
                (env, StateReader::at(self.db.clone(), n))
            }
        })
    }

    /// Resolves a block id to a block number (`None`: no such block).
    pub fn resolve(&self, id: BlockId) -> Result<Option<BlockNumber>, error::RpcError> {
        match id {
            BlockId::Number(tag) => self.resolve_number(tag),
            BlockId::Hash(hash) => Ok(self.db.block_number(&hash.block_hash)?),
        }
    }

    /// The block whose state `id` names: `None` for the executed head (the stored state), the
    /// number for an older block in the history window (`--state-history`) or at a settlement
    /// batch boundary (kept for the layer's life), an error for another one below the window
    /// (geth's "historical state ... is not available") or for no such block.
    pub fn state_at(&self, id: Option<BlockId>) -> Result<Option<BlockNumber>, error::RpcError> {
        let Some(id) = id else { return Ok(None) };
        let head = self.head()?;
        match self.resolve(id)? {
            None => Err(error::RpcError::HeaderNotFound),
            Some(n) if n >= head => Ok(None),
            Some(n) if self.db.has_state_at(n)? => Ok(Some(n)),
            Some(n) => {
                let root = self.db.header(n)?.map(|h| h.state_root).unwrap_or_default();
                Err(error::RpcError::NoHistoricalState { number: n, root, oldest: self.db.history_from()? })
            }
        }
    }
}

/// Where the JSON-RPC server listens and how it is bounded.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// HTTP and WebSocket on one port.
    pub addr: SocketAddr,
    /// Largest request body.
    pub max_request_bytes: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// Serve the `admin` namespace.
    pub admin: bool,
}

/// Subscription ids as geth sends them: `0x` and 16 random bytes in hex, a JSON string.
/// jsonrpsee's default is a JSON number, which clients that match notifications to
/// subscriptions by the id string (viem) never match: they drop every notification.
#[derive(Debug, Clone, Copy)]
struct HexIdProvider;

impl jsonrpsee::server::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        jsonrpsee::types::SubscriptionId::Str(format!("0x{}", hex::encode(rand::random::<[u8; 16]>())).into())
    }
}

/// Starts the server with every namespace; returns its bound address and handle.
pub async fn start(config: RpcConfig, ctx: RpcContext) -> eyre::Result<(SocketAddr, ServerHandle)> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(64 * 1024 * 1024)
        .max_connections(config.max_connections)
        .max_subscriptions_per_connection(1024)
        .set_id_provider(HexIdProvider)
        .build();
    let server = Server::builder().set_config(server_config).build(config.addr).await?;
    let addr = server.local_addr()?;
    Ok((addr, server.start(module(ctx, config.admin)?)))
}

/// Every namespace's methods over `ctx` (`admin` only when asked): what the server serves,
/// and what the JSON-RPC fuzz target (`fuzz/`) calls without a socket.
pub fn module(ctx: RpcContext, admin: bool) -> Result<RpcModule<()>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(());
    module.merge(eth::EthApiServer::into_rpc(eth::EthApi::new(ctx.clone())))?;
    module.merge(debug::DebugApiServer::into_rpc(debug::Debug::new(ctx.clone())))?;
    module.merge(misc::NetApiServer::into_rpc(misc::Misc::new(ctx.clone())))?;
    module.merge(misc::Web3ApiServer::into_rpc(misc::Misc::new(ctx.clone())))?;
    module.merge(misc::TxpoolApiServer::into_rpc(misc::Misc::new(ctx.clone())))?;
    if admin {
        module.merge(misc::AdminApiServer::into_rpc(misc::Misc::new(ctx.clone())))?;
    }
    module.merge(misc::FlashApiServer::into_rpc(misc::Misc::new(ctx)))?;
    Ok(module)
}
