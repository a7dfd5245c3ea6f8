//! The `eth` namespace.

use super::{
    RpcContext, convert,
    error::{RpcError, RpcResult, revert_reason},
    filters::{self, Filters},
};
use alloy::serde::storage::JsonStorageKey;
use alloy::{
    consensus::{Transaction as _, TxEnvelope},
    eips::{BlockId, BlockNumberOrTag, eip2718::Decodable2718},
    primitives::{Address, B256, Bytes, U64, U256, keccak256},
    rpc::types::{
        Block, EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Filter, FilterChanges, Index,
        Log, SyncStatus, Transaction, TransactionReceipt, TransactionRequest,
    },
};
use alloy_evm::rpc::TryIntoTxEnv;
use flashlayer_execution::{ExecutedBlock, SimulateError, simulate};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage,
    core::{SubscriptionResult, async_trait},
    proc_macros::rpc,
};
use revm::context_interface::result::ExecutionResult;
use serde::Deserialize;
use std::sync::Arc;

/// Most storage keys one `eth_getProof` call may ask for (each is a walk down a storage trie).
pub const MAX_PROOF_KEYS: usize = 1024;

/// The `eth` JSON-RPC API.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// `eth_chainId`.
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    /// `eth_blockNumber`.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;
    /// `eth_syncing`: `false`, or progress while the node catches up with the validators
    /// (block sync) or execution catches up with the committed chain.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<SyncStatus>;
    /// `eth_accounts`: this node holds no user keys.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;
    /// `eth_getBalance`.
    #[method(name = "getBalance")]
    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// `eth_getTransactionCount`; `pending` counts pooled transactions.
    #[method(name = "getTransactionCount")]
    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64>;
    /// `eth_getCode`.
    #[method(name = "getCode")]
    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// `eth_getStorageAt`.
    #[method(name = "getStorageAt")]
    fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> RpcResult<B256>;
    /// `eth_getProof` (EIP-1186): account and storage proofs against the block's state root,
    /// for the head and the blocks of the history window.
    #[method(name = "getProof")]
    fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse>;
    /// `eth_call`.
    #[method(name = "call")]
    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// `eth_estimateGas`.
    #[method(name = "estimateGas")]
    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64>;
    /// `eth_gasPrice`.
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<U256>;
    /// `eth_maxPriorityFeePerGas`.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee(&self) -> RpcResult<U256>;
    /// `eth_blobBaseFee`: no blobs on a layer; the minimum.
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;
    /// `eth_feeHistory`.
    #[method(name = "feeHistory")]
    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;
    /// `eth_sendRawTransaction`.
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// `eth_getTransactionByHash`: included or pooled.
    #[method(name = "getTransactionByHash")]
    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    /// `eth_getTransactionByBlockHashAndIndex`.
    #[method(name = "getTransactionByBlockHashAndIndex")]
    fn transaction_by_block_hash_and_index(&self, hash: B256, index: Index)
    -> RpcResult<Option<Transaction>>;
    /// `eth_getTransactionByBlockNumberAndIndex`.
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>>;
    /// `eth_getRawTransactionByHash`.
    #[method(name = "getRawTransactionByHash")]
    fn raw_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Bytes>>;
    /// `eth_getTransactionReceipt`.
    #[method(name = "getTransactionReceipt")]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;
    /// `eth_getBlockReceipts`.
    #[method(name = "getBlockReceipts")]
    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>>;
    /// `eth_getBlockByNumber`.
    #[method(name = "getBlockByNumber")]
    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>>;
    /// `eth_getBlockByHash`.
    #[method(name = "getBlockByHash")]
    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;
    /// `eth_getBlockTransactionCountByNumber`.
    #[method(name = "getBlockTransactionCountByNumber")]
    fn block_tx_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>>;
    /// `eth_getBlockTransactionCountByHash`.
    #[method(name = "getBlockTransactionCountByHash")]
    fn block_tx_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;
    /// `eth_getUncleCountByBlockNumber`: always zero.
    #[method(name = "getUncleCountByBlockNumber")]
    fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>>;
    /// `eth_getLogs`.
    #[method(name = "getLogs")]
    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
    /// `eth_newFilter`.
    #[method(name = "newFilter")]
    fn new_filter(&self, filter: Filter) -> RpcResult<U256>;
    /// `eth_newBlockFilter`.
    #[method(name = "newBlockFilter")]
    fn new_block_filter(&self) -> RpcResult<U256>;
    /// `eth_newPendingTransactionFilter`.
    #[method(name = "newPendingTransactionFilter")]
    fn new_pending_filter(&self) -> RpcResult<U256>;
    /// `eth_getFilterChanges`.
    #[method(name = "getFilterChanges")]
    fn filter_changes(&self, id: U256) -> RpcResult<FilterChanges>;
    /// `eth_getFilterLogs`.
    #[method(name = "getFilterLogs")]
    fn filter_logs(&self, id: U256) -> RpcResult<Vec<Log>>;
    /// `eth_uninstallFilter`.
    #[method(name = "uninstallFilter")]
    fn uninstall_filter(&self, id: U256) -> RpcResult<bool>;
    /// `eth_subscribe` / `eth_unsubscribe`: `newHeads`, `logs`, `newPendingTransactions`.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe(&self, kind: String, params: Option<serde_json::Value>) -> SubscriptionResult;
}

/// Handler of the `eth` namespace.
#[derive(Debug)]
pub struct EthApi {
    ctx: RpcContext,
    filters: Arc<Filters>,
}

impl EthApi {
    /// A handler over `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx, filters: Arc::new(Filters::default()) }
    }

    fn account(
        &self,
        address: Address,
        block: Option<BlockId>,
    ) -> Result<Option<alloy_trie::TrieAccount>, RpcError> {
        let at = self.ctx.state_at(block)?;
        let Some(rlp) = self.ctx.db.account_rlp_at(&keccak256(address), at)? else { return Ok(None) };
        alloy::rlp::Decodable::decode(&mut rlp.as_slice())
            .map(Some)
            .map_err(|e| RpcError::Storage(flashlayer_storage::Error::corrupt("accounts", e)))
    }

    fn suggested_tip(&self) -> u128 {
        match self.ctx.chain.fee_mode {
            flashlayer_execution::FeeMode::Gasless => 0,
            // No gas auction on a layer: the smallest tip any wallet accepts.
            flashlayer_execution::FeeMode::Eip1559 => 1,
        }
    }

    /// Runs a call on the state of block `at` (`None`: the head, in the context of the next
    /// block, as before), capping gas at what one transaction may use.
    fn run(
        &self,
        mut request: TransactionRequest,
        gas: Option<u64>,
        at: Option<u64>,
    ) -> Result<ExecutionResult, RpcError> {
        let (env, state) = self.ctx.call_env(at)?;
        let cap = self.ctx.chain.max_tx_gas();
        request.gas = Some(gas.or(request.gas).unwrap_or(cap).min(cap));
        let tx = request.try_into_tx_env(&env).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
        simulate(&state, env, tx).map_err(|e| match e {
            SimulateError::Invalid(msg) => RpcError::Execution(msg),
            SimulateError::Storage(e) => RpcError::Storage(e),
            SimulateError::Evm(msg) => RpcError::Execution(msg),
        })
    }

    fn block_at(&self, number: Option<u64>) -> Result<Option<flashlayer_storage::StoredBlock>, RpcError> {
        match number {
            None => Ok(None),
            Some(n) => Ok(self.ctx.db.block(n)?),
        }
    }

    fn located(&self, hash: &B256) -> Result<Option<(flashlayer_storage::StoredBlock, usize)>, RpcError> {
        let Some(loc) = self.ctx.db.tx_location(hash)? else { return Ok(None) };
        let block = self.ctx.db.block(loc.block)?.ok_or(RpcError::HeaderNotFound)?;
        Ok(Some((block, loc.index as usize)))
    }
}

fn outcome(result: ExecutionResult) -> Result<Bytes, RpcError> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => {
            Err(RpcError::Reverted { reason: revert_reason(&output), data: output })
        }
        ExecutionResult::Halt { reason, .. } => Err(RpcError::Execution(halt_message(&reason))),
    }
}

fn halt_message(reason: &revm::context_interface::result::HaltReason) -> String {
    use revm::context_interface::result::{HaltReason, OutOfGasError};
    match reason {
        HaltReason::OutOfGas(
            OutOfGasError::Basic
            | OutOfGasError::Memory
            | OutOfGasError::MemoryLimit
            | OutOfGasError::Precompile
            | OutOfGasError::InvalidOperand
            | OutOfGasError::ReentrancySentry,
        ) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack overflow".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        other => format!("{other:?}"),
    }
}

#[derive(Deserialize)]
struct LogsParams(#[serde(default)] Option<Filter>);

#[async_trait]
impl EthApiServer for EthApi {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.ctx.chain.chain_id))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.ctx.head()?))
    }

    fn syncing(&self) -> RpcResult<SyncStatus> {
        let state = self.ctx.sync_state()?;
        if !state.syncing() {
            return Ok(SyncStatus::None);
        }
        Ok(SyncStatus::Info(Box::new(alloy::rpc::types::SyncInfo {
            starting_block: U256::from(state.starting_block),
            current_block: U256::from(state.executed),
            highest_block: U256::from(state.highest),
            warp_chunks_amount: None,
            warp_chunks_processed: None,
            stages: None,
        })))
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(vec![])
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        Ok(self.account(address, block)?.map(|a| a.balance).unwrap_or_default())
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64> {
        let pending = matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending)));
        let nonce = self.account(address, block)?.map(|a| a.nonce).unwrap_or_default();
        Ok(U64::from(if pending { self.ctx.mempool.pending_nonce(&address, nonce) } else { nonce }))
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let Some(account) = self.account(address, block)? else { return Ok(Bytes::new()) };
        Ok(self.ctx.db.code(&account.code_hash).map_err(RpcError::from)?.unwrap_or_default())
    }

    fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> RpcResult<B256> {
        let at = self.ctx.state_at(block)?;
        let rlp = self
            .ctx
            .db
            .storage_rlp_at(&keccak256(address), &keccak256(B256::from(slot)), at)
            .map_err(RpcError::from)?;
        let value = match rlp {
            Some(rlp) => alloy::rlp::Decodable::decode(&mut rlp.as_slice())
                .map_err(|e| RpcError::Storage(flashlayer_storage::Error::corrupt("storage", e)))?,
            None => U256::ZERO,
        };
        Ok(B256::from(value))
    }

    fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        if keys.len() > MAX_PROOF_KEYS {
            return Err(RpcError::InvalidParams(format!(
                "too many storage keys: {} (most {MAX_PROOF_KEYS})",
                keys.len()
            ))
            .into());
        }
        let hashed = keccak256(address);
        let slots: Vec<B256> = keys.iter().map(|k| keccak256(k.as_b256())).collect();
        // The walk reads the stored trie while blocks keep being written: a proof that does not
        // lead to its block's root raced a write, and is taken again.
        for _ in 0..3 {
            let head = self.ctx.head()?;
            let at = self.ctx.state_at(block)?.unwrap_or(head);
            let root =
                self.ctx.db.header(at).map_err(RpcError::from)?.ok_or(RpcError::HeaderNotFound)?.state_root;
            let proof = self.ctx.db.account_proof(&hashed, &slots, at, head).map_err(RpcError::from)?;
            if proof.state_root != root {
                continue;
            }
            let account: Option<alloy_trie::TrieAccount> = proof
                .account
                .as_ref()
                .map(|rlp| alloy::rlp::Decodable::decode(&mut rlp.as_slice()))
                .transpose()
                .map_err(|e| RpcError::Storage(flashlayer_storage::Error::corrupt("accounts", e)))?;
            let account = account.unwrap_or_else(|| alloy_trie::TrieAccount {
                code_hash: alloy_trie::KECCAK_EMPTY,
                storage_root: alloy_trie::EMPTY_ROOT_HASH,
                ..Default::default()
            });
            let storage_proof = keys
                .iter()
                .zip(proof.storage)
                .map(|(key, (value, nodes))| {
                    let value = match value {
                        Some(rlp) => alloy::rlp::Decodable::decode(&mut rlp.as_slice()).map_err(|e| {
                            RpcError::Storage(flashlayer_storage::Error::corrupt("storage", e))
                        })?,
                        None => U256::ZERO,
                    };
                    Ok(EIP1186StorageProof { key: *key, value, proof: nodes })
                })
                .collect::<Result<Vec<_>, RpcError>>()?;
            return Ok(EIP1186AccountProofResponse {
                address,
                balance: account.balance,
                code_hash: account.code_hash,
                nonce: account.nonce,
                storage_hash: account.storage_root,
                account_proof: proof.account_proof,
                storage_proof,
            });
        }
        Err(RpcError::Limit("the chain moved on three times while the proof was built; try again".into())
            .into())
    }

    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes> {
        let at = self.ctx.state_at(block)?;
        Ok(outcome(self.run(request, None, at)?)?)
    }

    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64> {
        let at = self.ctx.state_at(block)?;
        let cap = request.gas.unwrap_or(self.ctx.chain.max_tx_gas()).min(self.ctx.chain.max_tx_gas());
        // At the cap it must succeed, or the call itself fails (revert reason returned).
        let first = self.run(request.clone(), Some(cap), at)?;
        let used = first.tx_gas_used();
        outcome(first)?;
        // Smallest gas limit that succeeds: refunds and the 63/64 rule make it exceed the gas
        // used, so search between the two, as geth and anvil do.
        if matches!(self.run(request.clone(), Some(used), at)?, ExecutionResult::Success { .. }) {
            return Ok(U64::from(used));
        }
        // `used` fails and `cap` succeeds: the answer is in (used, cap].
        let (mut lo, mut hi) = (used, cap);
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            match self.run(request.clone(), Some(mid), at) {
                Ok(ExecutionResult::Success { .. }) => hi = mid,
                Ok(_) | Err(RpcError::Execution(_)) => lo = mid,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(U64::from(hi))
    }

    fn gas_price(&self) -> RpcResult<U256> {
        Ok(U256::from(self.ctx.mempool.next_base_fee() as u128 + self.suggested_tip()))
    }

    fn max_priority_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(self.suggested_tip()))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(1))
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let count = block_count.to::<u64>().clamp(1, 1024);
        let newest = self.ctx.resolve_number(newest)?.ok_or(RpcError::HeaderNotFound)?;
        let oldest = newest.saturating_sub(count - 1);
        let mut history = FeeHistory { oldest_block: oldest, ..Default::default() };
        let mut rewards = Vec::new();
        for number in oldest..=newest {
            let block = self.ctx.db.block(number).map_err(RpcError::from)?.ok_or(RpcError::HeaderNotFound)?;
            let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(base_fee as u128);
            history.gas_used_ratio.push(block.header.gas_used as f64 / block.header.gas_limit as f64);
            history.base_fee_per_blob_gas.push(1);
            history.blob_gas_used_ratio.push(0.0);
            if let Some(percentiles) = &percentiles {
                let receipts = self.ctx.db.receipts(number).map_err(RpcError::from)?.unwrap_or_default();
                let mut tips: Vec<(u128, u64)> = Vec::new();
                let mut previous = 0;
                for (tx, receipt) in block.transactions.iter().zip(&receipts) {
                    let gas = receipt.cumulative_gas_used() - previous;
                    previous = receipt.cumulative_gas_used();
                    tips.push((tx.effective_tip_per_gas(base_fee).unwrap_or_default(), gas));
                }
                tips.sort_unstable();
                let total: u64 = tips.iter().map(|t| t.1).sum();
                let row = percentiles
                    .iter()
                    .map(|p| {
                        let threshold = (total as f64 * p / 100.0) as u64;
                        let mut acc = 0;
                        tips.iter()
                            .find(|(_, gas)| {
                                acc += gas;
                                acc >= threshold
                            })
                            .or(tips.last())
                            .map(|t| t.0)
                            .unwrap_or_default()
                    })
                    .collect();
                rewards.push(row);
            }
        }
        // The entry after the newest block: the next base fee.
        let last = self.ctx.db.header(newest).map_err(RpcError::from)?.ok_or(RpcError::HeaderNotFound)?;
        history
            .base_fee_per_gas
            .push(self.ctx.chain.next_base_fee(last.gas_used, last.base_fee_per_gas.unwrap_or_default())
                as u128);
        history.base_fee_per_blob_gas.push(1);
        history.reward = percentiles.map(|_| rewards);
        Ok(history)
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        if let Some(reason) = self.ctx.lifecycle.closed_reason() {
            return Err(RpcError::Closed(reason).into());
        }
        Ok(self.ctx.mempool.admit_async(raw).await.map_err(RpcError::from)?)
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        if let Some((block, index)) = self.located(&hash)? {
            return Ok(Some(convert::transaction(&block, index)));
        }
        Ok(self.ctx.mempool.get(&hash).and_then(|pooled| {
            let tx = TxEnvelope::decode_2718(&mut pooled.raw.as_ref()).ok()?;
            Some(convert::pending_transaction(tx, pooled.sender))
        }))
    }

    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        let number = self.ctx.db.block_number(&hash).map_err(RpcError::from)?;
        let block = self.block_at(number)?;
        Ok(block.filter(|b| index.0 < b.transactions.len()).map(|b| convert::transaction(&b, index.0)))
    }

    fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        let block = self.block_at(self.ctx.resolve_number(number)?)?;
        Ok(block.filter(|b| index.0 < b.transactions.len()).map(|b| convert::transaction(&b, index.0)))
    }

    fn raw_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Bytes>> {
        use alloy::eips::eip2718::Encodable2718;
        if let Some((block, index)) = self.located(&hash)? {
            return Ok(Some(block.transactions[index].encoded_2718().into()));
        }
        Ok(self.ctx.mempool.get(&hash).map(|p| p.raw))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        let Some((block, index)) = self.located(&hash)? else { return Ok(None) };
        let receipts = self.ctx.db.receipts(block.header.number).map_err(RpcError::from)?.unwrap_or_default();
        Ok(Some(convert::receipt(&block, &receipts, index)))
    }

    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let Some(block) = self.block_at(self.ctx.resolve(block)?)? else { return Ok(None) };
        let receipts = self.ctx.db.receipts(block.header.number).map_err(RpcError::from)?.unwrap_or_default();
        Ok(Some((0..block.transactions.len()).map(|i| convert::receipt(&block, &receipts, i)).collect()))
    }

    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>> {
        Ok(self.block_at(self.ctx.resolve_number(number)?)?.map(|b| convert::block(&b, full)))
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        let number = self.ctx.db.block_number(&hash).map_err(RpcError::from)?;
        Ok(self.block_at(number)?.map(|b| convert::block(&b, full)))
    }

    fn block_tx_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        Ok(self.block_at(self.ctx.resolve_number(number)?)?.map(|b| U64::from(b.transactions.len())))
    }

    fn block_tx_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let number = self.ctx.db.block_number(&hash).map_err(RpcError::from)?;
        Ok(self.block_at(number)?.map(|b| U64::from(b.transactions.len())))
    }

    fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        Ok(self.ctx.resolve_number(number)?.map(|_| U64::ZERO))
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        Ok(filters::query(&self.ctx, &filter)?)
    }

    fn new_filter(&self, filter: Filter) -> RpcResult<U256> {
        Ok(self.filters.new_logs(&self.ctx, filter)?)
    }

    fn new_block_filter(&self) -> RpcResult<U256> {
        Ok(self.filters.new_blocks(&self.ctx)?)
    }

    fn new_pending_filter(&self) -> RpcResult<U256> {
        Ok(self.filters.new_pending(&self.ctx)?)
    }

    fn filter_changes(&self, id: U256) -> RpcResult<FilterChanges> {
        Ok(self.filters.changes(&self.ctx, id)?)
    }

    fn filter_logs(&self, id: U256) -> RpcResult<Vec<Log>> {
        Ok(self.filters.logs(&self.ctx, id)?)
    }

    fn uninstall_filter(&self, id: U256) -> RpcResult<bool> {
        Ok(self.filters.uninstall(id))
    }

    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> SubscriptionResult {
        match kind.as_str() {
            "newHeads" => {
                let blocks = self.ctx.blocks.subscribe();
                let sink = pending.accept().await?;
                tokio::spawn(pipe(blocks, sink, |block: Arc<ExecutedBlock>| {
                    vec![serde_json::value::to_raw_value(&convert::block(&block.block, false).header)]
                }));
            }
            "logs" => {
                let filter = match params.map(serde_json::from_value::<LogsParams>).transpose() {
                    Ok(p) => p.and_then(|p| p.0).unwrap_or_default(),
                    Err(e) => {
                        pending.reject(RpcError::InvalidParams(format!("invalid logs filter: {e}"))).await;
                        return Ok(());
                    }
                };
                let blocks = self.ctx.blocks.subscribe();
                let sink = pending.accept().await?;
                tokio::spawn(pipe(blocks, sink, move |block: Arc<ExecutedBlock>| {
                    filters::block_matches(&filter, &block.block, &block.receipts)
                        .iter()
                        .map(serde_json::value::to_raw_value)
                        .collect()
                }));
            }
            "newPendingTransactions" => {
                let hashes = self.ctx.mempool.subscribe();
                let sink = pending.accept().await?;
                tokio::spawn(pipe(hashes, sink, |hash: B256| vec![serde_json::value::to_raw_value(&hash)]));
            }
            other => {
                pending
                    .reject(RpcError::InvalidParams(format!("unsupported subscription type {other:?}")))
                    .await;
            }
        }
        Ok(())
    }
}

/// Forwards a broadcast stream to a subscription until either side closes; `render` turns
/// each item into zero or more notifications. A lagging subscriber skips what it missed.
async fn pipe<T: Clone>(
    mut rx: tokio::sync::broadcast::Receiver<T>,
    sink: jsonrpsee::SubscriptionSink,
    mut render: impl FnMut(T) -> Vec<Result<Box<serde_json::value::RawValue>, serde_json::Error>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            _ = sink.closed() => return,
        };
        let item = match item {
            Ok(item) => item,
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "subscriber lagging");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        for msg in render(item) {
            let Ok(msg) = msg else { return };
            if sink.send(SubscriptionMessage::from(msg)).await.is_err() {
                return;
            }
        }
    }
}
