//! The `debug` namespace: `debug_traceTransaction`, `debug_traceBlockByNumber`,
//! `debug_traceBlockByHash` and `debug_traceCall`, as geth answers them (struct logs by
//! default, `callTracer`, `prestateTracer`, `noopTracer`), for Foundry, Hardhat and
//! call-tree viewers.
//!
//! Tracing re-executes transactions with every step recorded: it is the most CPU-hungry thing
//! the RPC does. So it runs on blocking threads, never the runtime's workers that admit
//! transactions or the consensus threads, at most [`TraceLimits`]' number at once, and each
//! request within a deadline (its `timeout` option, geth's five seconds by default, never more
//! than the node's `--rpc-trace-timeout`), waiting for a free slot included.

use super::{
    RpcContext,
    error::{RpcError, RpcResult},
};
use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    primitives::B256,
    rpc::types::{
        TransactionRequest,
        trace::{
            common::TraceResult,
            geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace},
        },
    },
};
use alloy_evm::rpc::TryIntoTxEnv;
use flashlayer_execution::trace::{self, TraceError};
use flashlayer_storage::StoredBlock;
use jsonrpsee::proc_macros::rpc;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

/// The longest a trace may run unless the operator says otherwise (`--rpc-trace-timeout`).
pub const DEFAULT_MAX_TRACE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many traces run at once and for how long at most.
#[derive(Debug, Clone)]
pub struct TraceLimits {
    /// The longest deadline a request may ask for.
    pub max_timeout: Duration,
    slots: Arc<Semaphore>,
}

impl TraceLimits {
    /// `concurrent` traces at once (at least one), each within `max_timeout`.
    pub fn new(concurrent: usize, max_timeout: Duration) -> Self {
        Self { max_timeout, slots: Arc::new(Semaphore::new(concurrent.max(1))) }
    }

    /// One trace per core but one, so that a flood of traces leaves a core to consensus and
    /// admission; at least one.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).max(1)
    }
}

impl Default for TraceLimits {
    fn default() -> Self {
        Self::new(Self::default_concurrency(), DEFAULT_MAX_TRACE_TIMEOUT)
    }
}

/// Traces of a block: one result per transaction, with its hash.
pub type BlockTraces = Vec<TraceResult<GethTrace, String>>;

/// `debug` namespace.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// `debug_traceTransaction`.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace>;
    /// `debug_traceBlockByNumber`.
    #[method(name = "traceBlockByNumber")]
    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<BlockTraces>;
    /// `debug_traceBlockByHash`.
    #[method(name = "traceBlockByHash")]
    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<BlockTraces>;
    /// `debug_traceCall`.
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace>;
}

/// Handler of the `debug` namespace.
#[derive(Debug, Clone)]
pub struct Debug {
    ctx: RpcContext,
}

impl Debug {
    /// Handler over `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx }
    }

    /// Runs `work` on a blocking thread once a trace slot is free, within the request's
    /// deadline.
    async fn traced<T: Send + 'static>(
        &self,
        opts: &GethDebugTracingOptions,
        work: impl FnOnce(Instant) -> Result<T, TraceError> + Send + 'static,
    ) -> Result<T, RpcError> {
        let limits = &self.ctx.traces;
        let deadline = trace::deadline(opts, Instant::now(), limits.max_timeout).map_err(trace_error)?;
        let slot = tokio::time::timeout_at(deadline.into(), limits.slots.clone().acquire_owned())
            .await
            .map_err(|_| trace_error(TraceError::Timeout))?
            .map_err(|_| RpcError::Limit("the node is shutting down".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work(deadline)
        })
        .await
        .map_err(|e| RpcError::Execution(format!("trace task failed: {e}")))?
        .map_err(trace_error)
    }

    /// The stored block `number`, once its parent's state is known to be readable.
    fn traceable(&self, number: u64) -> Result<StoredBlock, RpcError> {
        let block = self.ctx.db.block(number)?.ok_or_else(|| block_not_found(number))?;
        if number > 0 && !self.ctx.db.has_state_at(number - 1)? {
            let root = self.ctx.db.header(number - 1)?.map(|h| h.state_root).unwrap_or_default();
            return Err(RpcError::NoHistoricalState {
                number: number - 1,
                root,
                oldest: self.ctx.db.history_from()?,
            });
        }
        Ok(block)
    }

    async fn trace_block(
        &self,
        number: u64,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<BlockTraces> {
        let block = self.traceable(number)?;
        let opts = opts.unwrap_or_default();
        let (db, chain) = (self.ctx.db.clone(), self.ctx.chain.clone());
        let traces = self
            .traced(&opts.clone(), move |deadline| trace::trace_block(&db, &chain, &block, &opts, deadline))
            .await?;
        Ok(traces)
    }
}

fn block_not_found(number: u64) -> RpcError {
    RpcError::Execution(format!("block #{number} not found"))
}

fn trace_error(e: TraceError) -> RpcError {
    match e {
        TraceError::UnsupportedTracer(_) | TraceError::InvalidOptions(_) => {
            RpcError::InvalidParams(e.to_string())
        }
        TraceError::Storage(e) => RpcError::Storage(e),
        e => RpcError::Execution(e.to_string()),
    }
}

#[jsonrpsee::core::async_trait]
impl DebugApiServer for Debug {
    async fn trace_transaction(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace> {
        // geth's message for a transaction it has not included.
        let location = self
            .ctx
            .db
            .tx_location(&hash)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::Execution("transaction not found".into()))?;
        let block = self.traceable(location.block)?;
        let opts = opts.unwrap_or_default();
        let (db, chain) = (self.ctx.db.clone(), self.ctx.chain.clone());
        let index = location.index as usize;
        let trace = self
            .traced(&opts.clone(), move |deadline| {
                trace::trace_transaction(&db, &chain, &block, index, &opts, deadline)
            })
            .await?;
        Ok(trace)
    }

    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<BlockTraces> {
        let Some(n) = self.ctx.resolve_number(number)? else {
            return Err(match number {
                BlockNumberOrTag::Number(n) => block_not_found(n),
                _ => RpcError::HeaderNotFound,
            }
            .into());
        };
        self.trace_block(n, opts).await
    }

    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<BlockTraces> {
        let n = self
            .ctx
            .db
            .block_number(&hash)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::Execution(format!("block {hash} not found")))?;
        self.trace_block(n, opts).await
    }

    async fn trace_call(
        &self,
        mut request: TransactionRequest,
        block: Option<BlockId>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace> {
        let opts = opts.unwrap_or_default();
        if opts.state_overrides.is_some() || opts.block_overrides.is_some() {
            return Err(RpcError::InvalidParams(
                "stateOverrides and blockOverrides are not supported".into(),
            )
            .into());
        }
        let at = self.ctx.state_at(Some(block.unwrap_or(BlockId::latest())))?;
        let (env, state) = self.ctx.call_env(at)?;
        let cap = self.ctx.chain.max_tx_gas();
        request.gas = Some(request.gas.unwrap_or(cap).min(cap));
        let tx = request.try_into_tx_env(&env).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
        let tracing = opts.tracing_options;
        let trace = self
            .traced(&tracing.clone(), move |deadline| trace::trace_call(state, env, tx, &tracing, deadline))
            .await?;
        Ok(trace)
    }
}
