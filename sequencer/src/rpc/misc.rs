//! The small namespaces: `net`, `web3`, `txpool` and flashlayer's own `flash`.

use super::{
    RpcContext,
    error::{RpcError, RpcResult},
};
use alloy::primitives::{Address, B256, Bytes, U64, U256, keccak256};
use flashlayer_settlement::watcher::{Exit, ExitKind, L1Batch};
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
    /// How long transactions this node held took to be executed, over the last 10 seconds.
    pub inclusion_latency: crate::mempool::InclusionLatency,
    /// Connected peers.
    pub peers: Vec<PeerView>,
    /// How far execution trails the committed chain (blocks); non-zero while catching up.
    pub execution_lag: u64,
    /// `validator` (votes) or `full` (follows without voting).
    pub role: &'static str,
    /// Sync state against the validators.
    pub sync: SyncView,
    /// Settlement on L1 (absent on a layer without an L1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement: Option<SettlementView>,
    /// Where the layer is in its life.
    pub lifecycle: LifecycleView,
    /// Every operator the layer has had: the layer description's, then those that joined
    /// through L1 membership changes the chain applied (one that left stays, not a member).
    pub sequencers: Vec<SequencerView>,
}

/// An announced membership change in [`SettlementView`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingMembershipView {
    /// The contract's membership nonce.
    pub nonce: u64,
    /// The operator's settlement address.
    pub operator: Address,
    /// Joining (true) or leaving.
    pub joining: bool,
    /// L1 timestamp (Unix seconds) from which the change may apply.
    pub effective_at: u64,
}

/// Lifecycle part of [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleView {
    /// `starting`, `live`, `closing` or `settled`.
    pub phase: crate::lifecycle::Phase,
    /// Why no transactions are taken, once closing.
    pub closed_reason: Option<String>,
    /// The deadline (Unix seconds), if any.
    pub end_time: Option<u64>,
    /// Seconds to the deadline.
    pub time_left_secs: Option<u64>,
    /// The end block, if any.
    pub end_block: Option<u64>,
    /// The block that ended the layer, once executed.
    pub ended_at_block: Option<u64>,
    /// The L1 block the owner closed the layer in, if it did.
    pub closed_at_l1_block: Option<u64>,
}

/// A member of the sequencer set in [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SequencerView {
    /// ed25519 consensus key.
    pub consensus_key: String,
    /// Settlement address.
    pub settlement_address: Address,
    /// In the committed validator set (false: it left through an L1 membership change).
    pub member: bool,
    /// The newest committed block its vote certified (the vote rides in the next block's
    /// certificate, which holds the first quorum of votes: a slow validator's votes may not
    /// count); absent: none in the committed blocks this node has seen since it started (and
    /// the last ones it primed its leader schedule with).
    pub last_vote: Option<ChainPoint>,
    /// The newest committed block it proposed.
    pub last_proposal: Option<ChainPoint>,
    /// Its newest batch signature this node checked (absent: none since the node started).
    pub last_batch_signature: Option<BatchSignatureView>,
}

/// A committed block, by view and L2 number.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainPoint {
    /// The HotStuff view it was proposed in.
    pub view: u64,
    /// Its L2 block number.
    pub block: u64,
}

/// One operator's batch signature in [`SequencerView`].
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSignatureView {
    /// The batch it signed.
    pub batch: u64,
    /// When this node checked the signature (Unix seconds).
    pub at: u64,
}

/// `flash_batches`: the batches the L1 contract accepted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchesView {
    /// The layer's contract on L1.
    pub contract: Address,
    /// The L1's chain id.
    pub l1_chain_id: u64,
    /// Base URL of an L1 block explorer (`/tx/<hash>`, `/address/<address>`), if one is set
    /// (`--l1-explorer`) or known for the L1.
    pub l1_explorer: Option<String>,
    /// Seconds after acceptance before a batch is final (the contract's challenge window).
    pub challenge_window_secs: Option<u64>,
    /// Timestamp of the newest confirmed L1 block this node knows.
    pub l1_time: Option<u64>,
    /// How many batches the contract accepted (as of the confirmed L1 block).
    pub total: u64,
    /// The newest first, as many as asked.
    pub batches: Vec<L1BatchView>,
}

/// One accepted batch in [`BatchesView`]: the watcher's record and where it stands.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1BatchView {
    /// The batch as the L1 showed it.
    #[serde(flatten)]
    pub batch: L1Batch,
    /// When its challenge window ends (L1 Unix time).
    pub final_at: Option<u64>,
    /// `challenge` (in its window), `final`, `disputed` (it or an earlier batch was disputed:
    /// it never pays out), or `accepted` (its acceptance time is not read yet).
    pub status: &'static str,
}

/// `flash_claims`: what the bridge paid out on L1, and what the final batch lets accounts
/// claim.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimsView {
    /// The final batch, once built here.
    pub final_batch: Option<u64>,
    /// Accounts with a balance to claim in it.
    pub claimable_accounts: Option<u64>,
    /// Their total (wei).
    pub claimable_wei: Option<U256>,
    /// Exits paid so far, by kind (`claim`, `escape`, `refund`, `relay`): count and wei.
    pub totals: Vec<ExitTotalView>,
    /// The most recent exits, newest first, as many as asked.
    pub recent: Vec<Exit>,
}

/// One kind's total in [`ClaimsView`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitTotalView {
    /// `claim`, `escape`, `refund` or `relay`.
    pub kind: ExitKind,
    /// How many.
    pub count: u64,
    /// Wei paid.
    pub wei: U256,
}

/// Most entries `flash_batches` and `flash_claims` return at once.
pub const MAX_LISTED: u64 = 1_000;
/// Entries they return when the count is not given.
pub const DEFAULT_LISTED: u64 = 50;

/// `flash_claimProof`: what `FlashLayer.claim` takes for one account.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimProofView {
    /// The account.
    pub account: Address,
    /// Its final balance (wei).
    pub balance: U256,
    /// The L1 recipient it named on L2 (`FlashLayer.claimTo` pays it); absent: the account
    /// itself (`claim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Address>,
    /// Merkle proof, leaf to root.
    pub proof: Vec<B256>,
    /// The final batch's balances root.
    pub balances_root: B256,
    /// The final batch.
    pub batch_index: u64,
    /// Whether the final batch is accepted on L1 (claimable after the challenge window).
    pub settled: bool,
}

/// Settlement part of [`FlashStatus`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementView {
    /// Highest batch derived from the executed chain.
    pub last_built_batch: u64,
    /// Highest batch with a quorum of signatures here.
    pub last_signed_batch: u64,
    /// Highest batch this node submitted, and its L1 transaction.
    pub last_submitted_batch: Option<u64>,
    /// Its transaction hash.
    pub last_submitted_tx: Option<B256>,
    /// Last batch the L1 contract accepted.
    pub last_accepted_batch: u64,
    /// Last L2 block settled (`safe`).
    pub safe_block: u64,
    /// Last L2 block settled as of the L1 finalized block (`finalized`).
    pub finalized_block: u64,
    /// The L1 watcher's last error, if its last poll failed.
    pub l1_error: Option<String>,
    /// The final batch, once built here.
    pub final_batch: Option<u64>,
    /// Settlement addresses of the signer set of the next batch (follows the chain's
    /// sequencer-set changes).
    pub signers: Vec<Address>,
    /// The contract's signer-set epoch.
    pub signer_epoch: u64,
    /// The final batch is accepted on L1.
    pub settled: bool,
    /// ... as of the L1 finalized block (the node's data may then be disposed of).
    pub settled_finalized: bool,
    /// The first batch a watcher disputed on L1 (absent: none). It and every later batch never
    /// pay out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disputed_from: Option<u64>,
    /// The exit that needs no operator: open now or when, and against which batch.
    pub escape: EscapeView,
    /// Membership changes announced on L1 that the chain has not applied yet, with when each
    /// may apply (users who distrust a coming signer set have until then to leave).
    pub pending_membership: Vec<PendingMembershipView>,
}

/// Where the escape stands (the contract's `escapeStatus`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EscapeView {
    /// Accounts may escape now.
    pub open: bool,
    /// The batch whose state root escapes prove against.
    pub batch: u64,
    /// When the escape opens (L1 Unix time): the grace deadline while no final batch landed;
    /// absent while the layer settled undisputed.
    pub opens_at: Option<u64>,
}

/// `flash_messageProof`: what a relayer passes to `FlashLayer.relayMessage`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageProofView {
    /// The batch that commits to the message.
    pub batch_index: u64,
    /// Message nonce.
    pub nonce: U256,
    /// L2 sender.
    pub sender: Address,
    /// L1 target.
    pub target: Address,
    /// Wei.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
    /// Merkle proof, leaf to root.
    pub proof: Vec<B256>,
    /// The batch's messages root.
    pub messages_root: B256,
    /// Whether the batch has been accepted on L1.
    pub accepted: bool,
}

/// `flash_batchData`: a batch's data, what its `txDataHash` commits to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchDataView {
    /// Batch index.
    pub index: u64,
    /// First L2 block of the batch.
    pub first_block: u64,
    /// Last L2 block of the batch.
    pub last_block: u64,
    /// keccak256 of `data`, as the batch commits to it.
    pub tx_data_hash: B256,
    /// The batch data (docs/settlement.md, "Batch data").
    pub data: Bytes,
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
    /// Consensus keys the leader schedule rotates through now (validators that failed a turn
    /// recently, or have not voted, are left out).
    pub eligible_leaders: Vec<String>,
}

/// `flash` namespace: flashlayer's own status.
#[rpc(server, namespace = "flash")]
pub trait FlashApi {
    /// `flash_status`: consensus view, committed and executed heights, mempool size.
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<FlashStatus>;

    /// `flash_messageProof`: the batch and Merkle proof of an L2->L1 message (by the
    /// `messageHash` of its `MessageSent` event), once its batch is built; `null` before.
    #[method(name = "messageProof")]
    fn message_proof(&self, message_hash: B256) -> RpcResult<Option<MessageProofView>>;

    /// `flash_batchData`: the data of batch `index` (what `flashlayer verify` re-executes),
    /// once the batch is built here; `null` before. A signature on a batch attests that its
    /// signer serves this.
    #[method(name = "batchData")]
    async fn batch_data(&self, index: U64) -> RpcResult<Option<BatchDataView>>;

    /// `flash_claimProof`: an account's final balance and its proof against the final batch's
    /// balances root, once the final batch is built; `null` before, or when the account has
    /// nothing to claim.
    #[method(name = "claimProof")]
    fn claim_proof(&self, account: Address) -> RpcResult<Option<ClaimProofView>>;

    /// `flash_batches`: the newest `count` batches the L1 contract accepted (default 50, at
    /// most 1000), with their L1 transactions and where each stands in its challenge window.
    #[method(name = "batches")]
    fn batches(&self, count: Option<U64>) -> RpcResult<BatchesView>;

    /// `flash_claims`: what the final batch lets accounts claim, the bridge's payments so far
    /// (claims, escapes, refunds, relayed messages) and the newest `count` of them.
    #[method(name = "claims")]
    fn claims(&self, count: Option<U64>) -> RpcResult<ClaimsView>;

    /// `flash_liveSeries`: the last five minutes second by second as this node saw them
    /// (transactions and blocks executed, mempool depth, inclusion latency), with this node's
    /// time: what the live page charts.
    #[method(name = "liveSeries")]
    fn live_series(&self) -> RpcResult<LiveSeriesView>;
}

/// `flash_liveSeries`'s answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveSeriesView {
    /// This node's time (Unix seconds): the samples' clock.
    pub now: u64,
    /// One per second, oldest first.
    pub samples: Vec<crate::live::Sample>,
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
        let consensus = flashlayer_consensus::status(&self.ctx.consensus, self.ctx.schedule.as_deref());
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
        let applied_membership =
            flashlayer_execution::BlockExecutor::settlement_of(&self.ctx.db, executed_height)
                .map(|s| s.last_membership_nonce)
                .unwrap_or_default();
        let head_hash = self.ctx.db.block_hash(executed_height).map_err(RpcError::from)?.unwrap_or_default();
        let settlement_status = self.ctx.settlement.as_ref().map(|s| s.status());
        Ok(FlashStatus {
            chain_id: self.ctx.chain.chain_id,
            consensus: ConsensusView {
                view: consensus.view,
                committed_height: consensus.committed_height.map(|h| h + 1).unwrap_or(0),
                validators: consensus.validators.iter().map(key_hex).collect(),
                leader: consensus.leader.as_ref().map(key_hex),
                eligible_leaders: consensus.eligible_leaders.iter().map(key_hex).collect(),
            },
            execution_lag: consensus
                .committed_height
                .map(|h| h + 1)
                .unwrap_or(0)
                .saturating_sub(executed_height),
            executed_height,
            head_hash,
            mempool: self.txpool(),
            inclusion_latency: self.ctx.mempool.inclusion_latency(std::time::Duration::from_secs(10)),
            peers,
            role: if self.ctx.full_node { "full" } else { "validator" },
            sync: SyncView {
                syncing: sync.syncing(),
                highest_known_height: sync.highest,
                behind: sync.highest.saturating_sub(sync.committed),
            },
            lifecycle: LifecycleView {
                phase: self.ctx.lifecycle.phase(settlement_status.as_ref()),
                closed_reason: self.ctx.lifecycle.closed_reason(),
                end_time: self.ctx.lifecycle.end_time,
                time_left_secs: self.ctx.lifecycle.time_left(),
                end_block: self.ctx.lifecycle.end_block,
                ended_at_block: self.ctx.lifecycle.ended_at(),
                closed_at_l1_block: self.ctx.lifecycle.closed_at(),
            },
            sequencers: {
                let applied = match &self.ctx.settlement {
                    Some(s) => s.watcher().applied_membership(applied_membership),
                    None => Vec::new(),
                };
                let operators = operators_so_far(&self.ctx.sequencers, &applied);
                let keys: Vec<_> = operators.iter().map(|(key, _)| *key).collect();
                let activity = self.ctx.schedule.as_ref().map(|s| s.activity(&keys)).unwrap_or_default();
                operators
                    .iter()
                    .map(|(key, address)| {
                        let activity = activity.iter().find(|a| a.key == *key);
                        let point = |p: Option<(u64, u64)>| {
                            p.map(|(view, height)| ChainPoint { view, block: height + 1 })
                        };
                        SequencerView {
                            consensus_key: key_hex(key),
                            settlement_address: *address,
                            member: consensus.validators.contains(key),
                            last_vote: point(activity.and_then(|a| a.last_vote)),
                            last_proposal: point(activity.and_then(|a| a.last_proposal)),
                            last_batch_signature: settlement_status.as_ref().and_then(|s| {
                                s.last_signatures
                                    .iter()
                                    .find(|(signer, _, _)| signer == address)
                                    .map(|(_, batch, at)| BatchSignatureView { batch: *batch, at: *at })
                            }),
                        }
                    })
                    .collect()
            },
            settlement: self.ctx.settlement.as_ref().zip(settlement_status).map(|(s, status)| {
                SettlementView {
                    last_built_batch: status.built,
                    last_signed_batch: status.signed,
                    last_submitted_batch: status.submitted.map(|(i, _)| i),
                    last_submitted_tx: status.submitted.map(|(_, tx)| tx),
                    last_accepted_batch: status.accepted,
                    safe_block: status.safe_block,
                    finalized_block: status.finalized_block,
                    l1_error: s.watcher().last_error(),
                    final_batch: status.final_batch,
                    signers: status.signers,
                    signer_epoch: status.epoch,
                    settled: status.settled,
                    settled_finalized: status.settled_finalized,
                    disputed_from: (status.disputed_from != 0).then_some(status.disputed_from),
                    escape: EscapeView {
                        open: status.escape_open,
                        batch: status.escape_batch,
                        opens_at: (status.escape_opens_at != u64::MAX).then_some(status.escape_opens_at),
                    },
                    pending_membership: s
                        .watcher()
                        .pending_membership(applied_membership)
                        .into_iter()
                        .map(|(c, effective_at)| PendingMembershipView {
                            nonce: c.nonce,
                            operator: c.operator,
                            joining: c.joining,
                            effective_at,
                        })
                        .collect(),
                }
            }),
        })
    }

    fn message_proof(&self, message_hash: B256) -> RpcResult<Option<MessageProofView>> {
        let settlement = self.settlement()?;
        Ok(settlement.message_proof(message_hash).map(|p| MessageProofView {
            batch_index: p.batch_index,
            nonce: p.message.nonce,
            sender: p.message.sender,
            target: p.message.target,
            value: p.message.value,
            data: p.message.data.clone(),
            proof: p.proof,
            messages_root: p.root,
            accepted: p.accepted,
        }))
    }

    async fn batch_data(&self, index: U64) -> RpcResult<Option<BatchDataView>> {
        let settlement = self.settlement()?.clone();
        let index = index.to::<u64>();
        // Reads and compresses up to a batch of blocks: off the async workers.
        let found = tokio::task::spawn_blocking(move || settlement.batch_data(index))
            .await
            .map_err(|e| RpcError::Execution(format!("batch data task: {e}")))?
            .map_err(|e| RpcError::Execution(e.to_string()))?;
        Ok(found.map(|(batch, data)| BatchDataView {
            index,
            first_block: batch.firstBlock,
            last_block: batch.lastBlock,
            tx_data_hash: batch.txDataHash,
            data: data.into(),
        }))
    }

    fn claim_proof(&self, account: Address) -> RpcResult<Option<ClaimProofView>> {
        self.claim_proof_of(account)
    }

    fn batches(&self, count: Option<U64>) -> RpcResult<BatchesView> {
        let settlement = self.settlement()?;
        let count = listed(count)?;
        let watcher = settlement.watcher();
        let window = watcher.challenge_window();
        let l1_time = watcher.l1_time();
        let disputed_from = watcher.settled().disputed_from;
        let batches = watcher
            .batches(count)
            .into_iter()
            .map(|b| {
                let final_at = b.accepted_at.zip(window).map(|(at, w)| at.saturating_add(w));
                let status = if disputed_from != 0 && b.index >= disputed_from {
                    "disputed"
                } else if final_at.is_none() {
                    "accepted"
                } else if final_at.zip(l1_time).is_some_and(|(at, now)| now >= at) {
                    "final"
                } else {
                    "challenge"
                };
                L1BatchView { batch: b, final_at, status }
            })
            .collect();
        Ok(BatchesView {
            contract: settlement.contract(),
            l1_chain_id: settlement.l1_chain_id(),
            l1_explorer: self.ctx.l1_explorer.clone(),
            challenge_window_secs: window,
            l1_time,
            total: watcher.batch_count(),
            batches,
        })
    }

    fn live_series(&self) -> RpcResult<LiveSeriesView> {
        let now = crate::lifecycle::now_secs();
        Ok(LiveSeriesView { now, samples: self.ctx.series.lock().samples() })
    }

    fn claims(&self, count: Option<U64>) -> RpcResult<ClaimsView> {
        let settlement = self.settlement()?;
        let count = listed(count)?;
        let totals = settlement.final_totals();
        let (recent, by_kind) = settlement.watcher().exits(count);
        Ok(ClaimsView {
            final_batch: totals.map(|(index, _, _)| index),
            claimable_accounts: totals.map(|(_, accounts, _)| accounts as u64),
            claimable_wei: totals.map(|(_, _, wei)| wei),
            totals: by_kind
                .into_iter()
                .map(|(kind, (count, wei))| ExitTotalView { kind, count, wei })
                .collect(),
            recent,
        })
    }
}

/// How many entries a list method returns: `count`, or the default; at most [`MAX_LISTED`].
fn listed(count: Option<U64>) -> Result<usize, RpcError> {
    match count.map(|c| c.saturating_to::<u64>()) {
        None => Ok(DEFAULT_LISTED as usize),
        Some(c) if (1..=MAX_LISTED).contains(&c) => Ok(c as usize),
        Some(c) => Err(RpcError::InvalidParams(format!("count {c} is out of range 1..={MAX_LISTED}"))),
    }
}

impl Misc {
    /// The settlement service, or the error every settlement method gives on a layer without
    /// an L1.
    fn settlement(&self) -> Result<&flashlayer_settlement::service::Settlement, RpcError> {
        self.ctx
            .settlement
            .as_ref()
            .ok_or_else(|| RpcError::InvalidParams("this layer does not settle on L1".into()))
    }

    fn claim_proof_of(&self, account: Address) -> RpcResult<Option<ClaimProofView>> {
        let settlement = self.settlement()?;
        let Some(last) = settlement.final_batch() else { return Ok(None) };
        let balances = last.balances.as_ref().expect("the final batch has balances");
        Ok(balances.proof_of(account).map(|p| ClaimProofView {
            account,
            balance: p.balance,
            recipient: p.recipient,
            proof: p.proof,
            balances_root: balances.root,
            batch_index: last.batch.index,
            settled: settlement.status().settled,
        }))
    }
}

/// The operators a layer has had: `initial` (the layer description's) and then each operator a
/// change in `applied` (the chain's membership changes, in nonce order) let join. A change with
/// an invalid key changed nothing on the chain and lists nobody; one who rejoins is listed once,
/// with the address it rejoined with. Leaving removes nobody: the list says who was, the
/// validator set who is.
fn operators_so_far(
    initial: &[(flashlayer_consensus::ValidatorKey, Address)],
    applied: &[flashlayer_execution::MembershipChange],
) -> Vec<(flashlayer_consensus::ValidatorKey, Address)> {
    let mut operators = initial.to_vec();
    for change in applied.iter().filter(|c| c.joining) {
        let Some(key) = change.validator_key() else { continue };
        match operators.iter_mut().find(|(k, _)| *k == key) {
            Some(listed) => listed.1 = change.operator,
            None => operators.push((key, change.operator)),
        }
    }
    operators
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_list_follows_joins_and_keeps_who_left() {
        let key = |seed: u8| ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        let change = |nonce, seed: u8, operator: Address, joining| flashlayer_execution::MembershipChange {
            nonce,
            operator,
            consensus_key: B256::from(key(seed).to_bytes()),
            joining,
        };
        let (a, b, c) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        let initial = vec![(key(1), a), (key(2), b)];
        // A key that is no point on the curve: its change was carried but joined nobody.
        let invalid = (0..=u8::MAX)
            .map(|byte| flashlayer_execution::MembershipChange {
                consensus_key: B256::repeat_byte(byte),
                ..change(2, 9, c, true)
            })
            .find(|c| !c.has_valid_key())
            .unwrap();
        let applied = [
            change(1, 3, c, true),
            invalid,
            change(3, 2, b, false),
            change(4, 1, a, false),
            change(5, 1, c, true),
        ];
        assert_eq!(operators_so_far(&initial, &[]), initial);
        assert_eq!(operators_so_far(&initial, &applied), vec![(key(1), c), (key(2), b), (key(3), c)]);
    }

    #[test]
    fn list_counts_default_and_are_bounded() {
        assert_eq!(listed(None).unwrap(), DEFAULT_LISTED as usize);
        assert_eq!(listed(Some(U64::from(1))).unwrap(), 1);
        assert_eq!(listed(Some(U64::from(MAX_LISTED))).unwrap(), MAX_LISTED as usize);
        for bad in [0, MAX_LISTED + 1, u64::MAX] {
            assert!(listed(Some(U64::from(bad))).is_err(), "{bad}");
        }
    }
}
