//! The small namespaces: `net`, `web3`, `txpool` and flashlayer's own `flash`.

use super::{
    RpcContext,
    error::{RpcError, RpcResult},
};
use alloy::primitives::{B256, Bytes, U64, keccak256};
use jsonrpsee::proc_macros::rpc;
use serde::Serialize;

/// `net` namespace.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// `net_version`: the chain id in decimal.
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
    /// `net_listening`.
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;
    /// `net_peerCount`.
    #[method(name = "peerCount")]
    async fn peer_count(&self) -> RpcResult<U64>;
}

/// `web3` namespace.
#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// `web3_clientVersion`.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
    /// `web3_sha3`.
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

/// Pool counts, as geth's `txpool_status`.
#[derive(Debug, Clone, Serialize)]
pub struct TxpoolStatus {
    /// Transactions ready for the next blocks.
    pub pending: U64,
    /// Transactions waiting for an earlier nonce.
    pub queued: U64,
}

/// `txpool` namespace.
#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    /// `txpool_status`.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<TxpoolStatus>;
}

/// What `flash_status` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlashStatus {
    /// L2 chain id.
    pub chain_id: u64,
    /// Consensus state.
    pub consensus: ConsensusView,
    /// Number of the last executed block.
    pub executed_height: u64,
    /// Hash of the last executed block.
    pub head_hash: B256,
    /// Mempool counts.
    pub mempool: TxpoolStatus,
    /// Connected peers.
    pub peers: Vec<PeerView>,
    /// How far execution trails the committed chain (blocks); non-zero while catching up.
    pub execution_lag: u64,
    /// `validator` (votes) or `full` (follows without voting).
    pub role: &'static str,
    /// Sync state against the validators.
    pub sync: SyncView,
}

/// Sync part of [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    /// Behind the validators or execution trailing commits.
    pub syncing: bool,
    /// Highest committed block a validator advertised (or ours, if higher).
    pub highest_known_height: u64,
    /// Blocks between that and our committed height.
    pub behind: u64,
}

/// A connected peer in [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerView {
    /// libp2p peer id.
    pub peer_id: String,
    /// Whether it is a validator of this layer.
    pub validator: bool,
}

/// Consensus part of [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusView {
    /// Highest HotStuff view entered.
    pub view: u64,
    /// L2 number of the highest committed block (consensus height + 1).
    pub committed_height: u64,
    /// Consensus keys of the committed validator set.
    pub validators: Vec<String>,
    /// Consensus key of the current view's leader.
    pub leader: Option<String>,
}

/// `flash` namespace: flashlayer's own status.
#[rpc(server, namespace = "flash")]
pub trait FlashApi {
    /// `flash_status`: consensus view, committed and executed heights, mempool size.
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<FlashStatus>;
}

/// Handler of the small namespaces.
#[derive(Debug, Clone)]
pub struct Misc {
    ctx: RpcContext,
}

impl Misc {
    /// A handler over `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx }
    }

    fn txpool(&self) -> TxpoolStatus {
        let (pending, queued) = self.ctx.mempool.counts();
        TxpoolStatus { pending: U64::from(pending), queued: U64::from(queued) }
    }
}

#[jsonrpsee::core::async_trait]
impl NetApiServer for Misc {
    fn version(&self) -> RpcResult<String> {
        Ok(self.ctx.chain.chain_id.to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    async fn peer_count(&self) -> RpcResult<U64> {
        let peers = match &self.ctx.p2p {
            Some(p2p) => p2p.peers().await.map(|p| p.len()).unwrap_or_default(),
            None => 0,
        };
        Ok(U64::from(peers))
    }
}

impl Web3ApiServer for Misc {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!(
            "flashlayer/v{}/{}-{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    }

    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(data))
    }
}

impl TxpoolApiServer for Misc {
    fn status(&self) -> RpcResult<TxpoolStatus> {
        Ok(self.txpool())
    }
}

#[jsonrpsee::core::async_trait]
impl FlashApiServer for Misc {
    async fn status(&self) -> RpcResult<FlashStatus> {
        let consensus = flashlayer_consensus::status(&self.ctx.consensus);
        let peers = match &self.ctx.p2p {
            Some(p2p) => p2p
                .peers()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|p| PeerView { peer_id: p.peer_id.to_string(), validator: p.validator })
                .collect(),
            None => vec![],
        };
        let sync = self.ctx.sync_state()?;
        let executed_height = sync.executed;
        let head_hash = self.ctx.db.block_hash(executed_height).map_err(RpcError::from)?.unwrap_or_default();
        Ok(FlashStatus {
            chain_id: self.ctx.chain.chain_id,
            consensus: ConsensusView {
                view: consensus.view,
                committed_height: consensus.committed_height.map(|h| h + 1).unwrap_or(0),
                validators: consensus.validators.iter().map(key_hex).collect(),
                leader: consensus.leader.as_ref().map(key_hex),
            },
            execution_lag: consensus
                .committed_height
                .map(|h| h + 1)
                .unwrap_or(0)
                .saturating_sub(executed_height),
            executed_height,
            head_hash,
            mempool: self.txpool(),
            peers,
            role: if self.ctx.full_node { "full" } else { "validator" },
            sync: SyncView {
                syncing: sync.syncing(),
                highest_known_height: sync.highest,
                behind: sync.highest.saturating_sub(sync.committed),
            },
        })
    }
}

fn key_hex(key: &flashlayer_consensus::ValidatorKey) -> String {
    format!("0x{}", hex::encode(key.to_bytes()))
}

/// `admin` namespace: operator controls, served only with `--enable-admin-rpc` (they let the
/// caller cut this node off its peers).
#[rpc(server, namespace = "admin")]
pub trait AdminApi {
    /// `admin_blockPeer`: disconnect a peer and refuse it until unblocked.
    #[method(name = "blockPeer")]
    fn block_peer(&self, peer_id: String) -> RpcResult<bool>;
    /// `admin_unblockPeer`.
    #[method(name = "unblockPeer")]
    fn unblock_peer(&self, peer_id: String) -> RpcResult<bool>;
}

impl Misc {
    fn peer(&self, peer_id: &str) -> Result<(&flashlayer_p2p::P2p, libp2p::PeerId), RpcError> {
        let p2p =
            self.ctx.p2p.as_ref().ok_or_else(|| RpcError::InvalidParams("this node runs no p2p".into()))?;
        let peer = peer_id
            .parse()
            .map_err(|e| RpcError::InvalidParams(format!("invalid peer id {peer_id:?}: {e}")))?;
        Ok((p2p, peer))
    }
}

impl AdminApiServer for Misc {
    fn block_peer(&self, peer_id: String) -> RpcResult<bool> {
        let (p2p, peer) = self.peer(&peer_id)?;
        p2p.block(peer);
        Ok(true)
    }

    fn unblock_peer(&self, peer_id: String) -> RpcResult<bool> {
        let (p2p, peer) = self.peer(&peer_id)?;
        p2p.unblock(peer);
        Ok(true)
    }
}
