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
        trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions},
    },
};
use alloy_evm::rpc::TryIntoTxEnv;
use flashlayer_execution::trace::{self, Deadline, TraceError};
use flashlayer_storage::StateReader;
use jsonrpsee::proc_macros::rpc;
use serde::Serialize;
use serde_json::value::RawValue;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

/// The longest a trace may run unless the operator says otherwise (`--rpc-trace-timeout`).
pub const DEFAULT_MAX_TRACE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many traces run at once, how many may wait, and for how long at most.
#[derive(Debug, Clone)]
pub struct TraceLimits {
    /// The longest deadline a request may ask for.
    pub max_timeout: Duration,
    slots: Arc<Semaphore>,
    /// Requests holding or waiting for a slot.
    queued: Arc<AtomicUsize>,
    max_queued: usize,
}

impl TraceLimits {
    /// `concurrent` traces at once (at least one), each within `max_timeout`; up to four
    /// times as many wait for a slot, more are refused at once.
    pub fn new(concurrent: usize, max_timeout: Duration) -> Self {
        let concurrent = concurrent.max(1);
        Self {
            max_timeout,
            slots: Arc::new(Semaphore::new(concurrent)),
            queued: Arc::default(),
            max_queued: concurrent * 5,
        }
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

/// A trace as JSON, serialized on the tracing thread: a large trace is never built, serialized
/// or dropped on the runtime's workers.
pub type TraceJson = Box<RawValue>;

/// `debug` namespace.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// `debug_traceTransaction`.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<TraceJson>;
    /// `debug_traceBlockByNumber`: one result per transaction, with its hash.
    #[method(name = "traceBlockByNumber")]
    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<TraceJson>;
    /// `debug_traceBlockByHash`: one result per transaction, with its hash.
    #[method(name = "traceBlockByHash")]
    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<TraceJson>;
    /// `debug_traceCall`.
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<TraceJson>;
}

/// Handler of the `debug` namespace.
#[derive(Debug, Clone)]
pub struct Debug {
    ctx: RpcContext,
}

/// Leaves the trace queue when the request ends, and stops its trace if the request was
/// dropped first (the client went away: nobody waits for the answer).
struct Queued {
    queued: Arc<AtomicUsize>,
    deadline: Deadline,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.deadline.cancel();
    }
}

impl Debug {
    /// Handler over `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx }
    }

    /// Runs `work` on a blocking thread once a trace slot is free, within the request's
    /// deadline, and serializes its result there.
    async fn traced(
        &self,
        opts: &GethDebugTracingOptions,
        work: impl FnOnce(&Deadline) -> Result<TraceJson, TraceError> + Send + 'static,
    ) -> Result<TraceJson, RpcError> {
        trace::check_options(opts).map_err(trace_error)?;
        let limits = &self.ctx.traces;
        let deadline = trace::deadline(opts, Instant::now(), limits.max_timeout).map_err(trace_error)?;
        if limits.queued.fetch_add(1, Ordering::AcqRel) >= limits.max_queued {
            limits.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(RpcError::Limit("too many traces in progress on this node: try again later".into()));
        }
        let _queued = Queued { queued: limits.queued.clone(), deadline: deadline.clone() };
        let wait = deadline.remaining();
        let slot = tokio::time::timeout(wait, limits.slots.clone().acquire_owned())
            .await
            .map_err(|_| trace_error(TraceError::Timeout))?
            .map_err(|_| RpcError::Limit("the node is shutting down".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work(&deadline)
        })
        .await
        .map_err(|e| RpcError::Execution(format!("trace task failed: {e}")))?
        .map_err(trace_error)
    }

    /// Refuses to trace block `number` when its parent's state is not (or no longer) readable.
    fn parent_state(&self, number: u64) -> Result<(), RpcError> {
        if number > 0 && !self.ctx.db.has_state_at(number - 1)? {
            let root = self.ctx.db.header(number - 1)?.map(|h| h.state_root).unwrap_or_default();
            return Err(RpcError::NoHistoricalState {
                number: number - 1,
                root,
                oldest: self.ctx.db.history_from()?,
            });
        }
        Ok(())
    }

    /// Traces block `number` (all of it, or transaction `index` of it). The parent's state is
    /// checked before, and again after: the history window may have passed it while the trace
    /// ran, and then what the trace read is not that state.
    async fn trace_in_block(
        &self,
        number: u64,
        index: Option<usize>,
        opts: Option<GethDebugTracingOptions>,
    ) -> Result<TraceJson, RpcError> {
        if self.ctx.db.header(number)?.is_none() {
            return Err(block_not_found(number));
        }
        self.parent_state(number)?;
        let opts = opts.unwrap_or_default();
        let (db, chain) = (self.ctx.db.clone(), self.ctx.chain.clone());
        let traced = self
            .traced(&opts.clone(), move |deadline| {
                let block = db.block(number)?.ok_or_else(|| {
                    flashlayer_execution::Error::Corrupt(format!("block {number} has a header and no body"))
                })?;
                match index {
                    Some(index) => {
                        json(&trace::trace_transaction(&db, &chain, &block, index, &opts, deadline)?)
                    }
                    None => json(&trace::trace_block(&db, &chain, &block, &opts, deadline)?),
                }
            })
            .await?;
        self.parent_state(number)?;
        Ok(traced)
    }
}

/// Serializes a trace on the tracing thread.
fn json(trace: &impl Serialize) -> Result<TraceJson, TraceError> {
    serde_json::value::to_raw_value(trace).map_err(|e| TraceError::Evm(format!("serializing the trace: {e}")))
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
    ) -> RpcResult<TraceJson> {
        // geth's message for a transaction it has not included.
        let location = self
            .ctx
            .db
            .tx_location(&hash)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::Execution("transaction not found".into()))?;
        Ok(self.trace_in_block(location.block, Some(location.index as usize), opts).await?)
    }

    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<TraceJson> {
        let Some(n) = self.ctx.resolve_number(number)? else {
            return Err(match number {
                BlockNumberOrTag::Number(n) => block_not_found(n),
                _ => RpcError::HeaderNotFound,
            }
            .into());
        };
        Ok(self.trace_in_block(n, None, opts).await?)
    }

    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<TraceJson> {
        let n = self
            .ctx
            .db
            .block_number(&hash)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::Execution(format!("block {hash} not found")))?;
        Ok(self.trace_in_block(n, None, opts).await?)
    }

    async fn trace_call(
        &self,
        mut request: TransactionRequest,
        block: Option<BlockId>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<TraceJson> {
        let opts = opts.unwrap_or_default();
        if opts.state_overrides.is_some() || opts.block_overrides.is_some() || opts.tx_index.is_some() {
            return Err(RpcError::InvalidParams(
                "stateOverrides, blockOverrides and txIndex are not supported".into(),
            )
            .into());
        }
        let at = self.ctx.state_at(block)?;
        // A call on the head's state reads a pinned block, not whatever the head is by then.
        let pinned = match at {
            Some(n) => n,
            None => self.ctx.head()?,
        };
        let (env, _) = self.ctx.call_env(at)?;
        let state = StateReader::at(self.ctx.db.clone(), pinned);
        let cap = self.ctx.chain.max_tx_gas();
        request.gas = Some(request.gas.unwrap_or(cap).min(cap));
        let tx = request.try_into_tx_env(&env).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
        let tracing = opts.tracing_options;
        let trace = self
            .traced(&tracing.clone(), move |deadline| {
                json(&trace::trace_call(state, env, tx, &tracing, deadline)?)
            })
            .await?;
        self.parent_state(pinned + 1)?;
        Ok(trace)
    }
}
