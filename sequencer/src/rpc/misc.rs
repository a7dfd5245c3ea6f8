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
    fn peer_count(&self) -> RpcResult<U64>;
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
}

/// Consensus part of [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusView {
    /// Highest HotStuff view entered.
    pub view: u64,
    /// L2 number of the highest committed block (consensus height + 1).
    pub committed_height: u64,
    /// Validators in the committed set.
    pub validators: usize,
}

/// `flash` namespace: flashlayer's own status.
#[rpc(server, namespace = "flash")]
pub trait FlashApi {
    /// `flash_status`: consensus view, committed and executed heights, mempool size.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<FlashStatus>;
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

impl NetApiServer for Misc {
    fn version(&self) -> RpcResult<String> {
        Ok(self.ctx.chain.chain_id.to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
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

impl FlashApiServer for Misc {
    fn status(&self) -> RpcResult<FlashStatus> {
        let consensus = flashlayer_consensus::status(&self.ctx.consensus);
        let executed_height = self.ctx.head()?;
        let head_hash = self.ctx.db.block_hash(executed_height).map_err(RpcError::from)?.unwrap_or_default();
        Ok(FlashStatus {
            chain_id: self.ctx.chain.chain_id,
            consensus: ConsensusView {
                view: consensus.view,
                committed_height: consensus.committed_height.map(|h| h + 1).unwrap_or(0),
                validators: consensus.validators,
            },
            executed_height,
            head_hash,
            mempool: self.txpool(),
        })
    }
}
