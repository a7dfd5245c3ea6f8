//! `debug_trace*`: a block's transactions, or a call, re-executed under revm-inspectors'
//! tracers, in geth's output shapes: struct logs (the default), `callTracer`, `prestateTracer`
//! and `noopTracer`.
//!
//! A transaction is traced on the state it ran on: its parent block's state (from the node's
//! window of history), then the block's deposits credited as [`crate::BlockExecutor`] credits
//! them, then every earlier transaction of the block replayed. Tracing is CPU-heavy and
//! bounded: each request has a deadline (geth's `timeout` option, five seconds by default as in
//! geth), checked between transactions and every few thousand EVM steps inside one; past it
//! the run stops with [`TraceError::Timeout`]. Its size is bounded too: a trace whose JSON would
//! pass [`MAX_TRACE_BYTES`] stops with [`TraceError::TooLarge`], before it fills the node's
//! memory. Which thread runs it is the caller's choice (the node's RPC runs traces on blocking
//! threads, away from admission and consensus).

use crate::{BlockExecutor, ChainConfig, evm_env, simulate::call_env};
use alloy::{
    consensus::Transaction,
    primitives::{Address, B256, U256},
    rpc::types::trace::{
        common::TraceResult,
        geth::{
            CallConfig, GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingOptions,
            GethDefaultTracingOptions, GethTrace, NoopFrame, PreStateConfig,
        },
    },
};
use alloy_evm::{Evm, EvmEnv, EvmFactory, FromRecoveredTx, eth::EthEvmFactory};
use flashlayer_storage::{Db, StateReader, StoredBlock};
use revm::{
    DatabaseCommit, Inspector,
    bytecode::opcode,
    context::TxEnv,
    context_interface::result::{EVMError, ResultAndState},
    database::CacheDB,
    interpreter::{
        InstructionResult, Interpreter,
        interpreter::EthInterpreter,
        interpreter_types::{InputsTr, Jumps, MemoryTr},
    },
};
use revm_inspectors::tracing::{TraceLimitBehavior, TraceLimits, TracingInspector, TracingInspectorConfig};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How long a trace may run when the request names no `timeout` (geth's default).
pub const DEFAULT_TRACE_TIMEOUT: Duration = Duration::from_secs(5);

/// EVM steps between two looks at the clock: often enough to stop within a millisecond or so,
/// rarely enough that the clock costs nothing next to the step recording.
const STEPS_PER_CLOCK_CHECK: u64 = 4096;

/// The largest trace this node makes: its largest JSON-RPC response (64 MiB), beyond which the
/// answer could not be sent anyway. geth has no such bound; a larger transaction is traced with
/// `callTracer`, or with fewer struct-log fields (`disableStack`, `disableStorage`).
pub const MAX_TRACE_BYTES: usize = 64 << 20;

/// Why a trace produced no result.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The tracer named is not one this node runs (JavaScript tracers among them).
    #[error(
        "tracer {0} is not supported: use the default struct logger, callTracer, prestateTracer or noopTracer"
    )]
    UnsupportedTracer(String),
    /// The tracer's config or the timeout does not parse.
    #[error("{0}")]
    InvalidOptions(String),
    /// The deadline passed (geth's message).
    #[error("execution timeout")]
    Timeout,
    /// The trace grew past [`MAX_TRACE_BYTES`] (in MiB).
    #[error(
        "the trace is larger than {0} MiB: trace it with the callTracer, or with disableStack / disableStorage"
    )]
    TooLarge(usize),
    /// Block 0 has no transactions and no parent state (geth's message).
    #[error("genesis is not traceable")]
    Genesis,
    /// The call is not a valid transaction (funds, nonce, fee, gas).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] flashlayer_storage::Error),
    /// A stored record does not decode, or a stored transaction no longer executes: the node's
    /// own data is wrong.
    #[error("{0}")]
    Execution(#[from] crate::Error),
    /// Internal EVM failure.
    #[error("evm: {0}")]
    Evm(String),
}

/// A tracer asked for, with its config parsed.
#[derive(Debug, Clone)]
enum Tracer {
    StructLog(GethDefaultTracingOptions),
    Call(CallConfig),
    Prestate(PreStateConfig),
    Noop,
}

impl Tracer {
    fn new(opts: &GethDebugTracingOptions) -> Result<Self, TraceError> {
        use GethDebugBuiltInTracerType as BuiltIn;
        let config = opts.tracer_config.clone();
        let invalid = |e: serde_json::Error| TraceError::InvalidOptions(format!("tracerConfig: {e}"));
        Ok(match &opts.tracer {
            None => Self::StructLog(opts.config),
            Some(GethDebugTracerType::BuiltInTracer(BuiltIn::CallTracer)) => {
                Self::Call(config.into_call_config().map_err(invalid)?)
            }
            Some(GethDebugTracerType::BuiltInTracer(BuiltIn::PreStateTracer)) => {
                Self::Prestate(config.into_pre_state_config().map_err(invalid)?)
            }
            Some(GethDebugTracerType::BuiltInTracer(BuiltIn::NoopTracer)) => Self::Noop,
            Some(GethDebugTracerType::BuiltInTracer(other)) => {
                return Err(TraceError::UnsupportedTracer(GethDebugTracerType::from(*other).as_str().into()));
            }
            // An unknown name arrives as a JavaScript tracer too.
            Some(GethDebugTracerType::JsTracer(code)) => {
                let name =
                    if code.chars().all(|c| c.is_ascii_alphanumeric()) { code } else { "(JavaScript)" };
                return Err(TraceError::UnsupportedTracer(name.into()));
            }
        })
    }

    /// What each step adds to a struct-log trace (`None`: the tracer records no steps).
    fn step_cost(&self) -> Option<StepCost> {
        match self {
            Self::StructLog(opts) => Some(StepCost {
                stack: !opts.disable_stack.unwrap_or_default(),
                memory: opts.enable_memory.unwrap_or_default(),
                storage: !opts.disable_storage.unwrap_or_default(),
            }),
            _ => None,
        }
    }

    fn inspector_config(&self) -> TracingInspectorConfig {
        match self {
            Self::StructLog(opts) => TracingInspectorConfig::from_geth_config(opts),
            Self::Call(config) => TracingInspectorConfig::from_geth_call_config(config),
            Self::Prestate(config) => TracingInspectorConfig::from_geth_prestate_config(config),
            Self::Noop => TracingInspectorConfig::none(),
        }
    }
}

/// Checks `opts` without running anything: the tracer is one this node runs and its config
/// parses (so that a bad request is refused before it waits for a trace slot).
pub fn check_options(opts: &GethDebugTracingOptions) -> Result<(), TraceError> {
    Tracer::new(opts).map(|_| ())
}

/// The deadline of one request, as a request's `timeout` (a Go duration string, as geth
/// takes it) asks, never past `max`.
pub fn deadline(
    opts: &GethDebugTracingOptions,
    started: Instant,
    max: Duration,
) -> Result<Deadline, TraceError> {
    let asked = match &opts.timeout {
        None => DEFAULT_TRACE_TIMEOUT,
        Some(text) => go_duration(text).ok_or_else(|| {
            TraceError::InvalidOptions(format!("timeout {text:?} is not a duration such as \"5s\""))
        })?,
    };
    let at = started.checked_add(asked.min(max)).unwrap_or(started);
    Ok(Deadline::new(at))
}

/// Parses a Go duration (`300ms`, `1.5s`, `1m30s`), the format geth's `timeout` option takes.
/// Hand-written: it is a few lines, and no well-kept crate parses Go's exact syntax.
fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// When a trace must stop: at its deadline, or as soon as its caller has gone away.
#[derive(Debug, Clone)]
pub struct Deadline {
    at: Instant,
    cancelled: Arc<AtomicBool>,
}

impl Deadline {
    /// A deadline at `at`, not cancelled.
    pub fn new(at: Instant) -> Self {
        Self { at, cancelled: Arc::default() }
    }

    /// Stops the trace at its next check (the request was dropped: nobody waits for it).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Time left until the deadline.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the trace must stop now.
    pub fn passed(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.at
    }
}

/// Why a run was stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Deadline,
    TooLarge,
}

/// What a struct log holds beside its fixed fields, for the budget to count.
#[derive(Debug, Clone, Copy)]
struct StepCost {
    stack: bool,
    memory: bool,
    storage: bool,
}

/// Stops the EVM once the deadline has passed or the trace has grown past
/// [`MAX_TRACE_BYTES`]. Every frame halts (out of gas) at its next step, and the run is
/// reported as an error.
///
/// The size of a struct-log trace is counted here, step by step, as its JSON will be: each
/// step carries a copy of the stack (and of memory, and of the contract's storage touched so
/// far, when asked), which revm-inspectors' own byte limit does not count. Without this one loop
/// over a deep stack would fill the node's memory long before any deadline.
#[derive(Debug, Clone)]
struct Budget {
    deadline: Deadline,
    step_cost: Option<StepCost>,
    bytes: usize,
    steps: u64,
    /// Storage slots each contract touched so far (struct logs carry them at each SLOAD/SSTORE).
    slots: HashMap<Address, HashSet<U256>>,
    stop: Option<Stop>,
}

impl Budget {
    fn new(deadline: Deadline, step_cost: Option<StepCost>, spent: usize) -> Self {
        Self { deadline, step_cost, bytes: spent, steps: 0, slots: HashMap::new(), stop: None }
    }

    /// About what one struct log of the step about to run comes to in JSON: the fixed fields,
    /// then every stack word, memory word and storage slot as a quoted 0x-hex string.
    fn step_bytes(&mut self, cost: StepCost, interp: &Interpreter<EthInterpreter>) -> usize {
        const WORD: usize = 70;
        let mut bytes = 120;
        if cost.stack {
            bytes += interp.stack.len() * WORD;
        }
        if cost.memory {
            bytes += interp.memory.size().div_ceil(32) * WORD;
        }
        if cost.storage
            && matches!(interp.bytecode.opcode(), opcode::SLOAD | opcode::SSTORE)
            && let Some(slot) = interp.stack.data().last()
        {
            let slots = self.slots.entry(interp.input.target_address()).or_default();
            slots.insert(*slot);
            bytes += slots.len() * 2 * WORD;
        }
        bytes
    }
}

impl<CTX> Inspector<CTX, EthInterpreter> for Budget {
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, _context: &mut CTX) {
        self.steps += 1;
        if self.stop.is_none() {
            if let Some(cost) = self.step_cost {
                self.bytes = self.bytes.saturating_add(self.step_bytes(cost, interp));
            }
            if self.bytes > MAX_TRACE_BYTES {
                self.stop = Some(Stop::TooLarge);
            } else if self.steps.is_multiple_of(STEPS_PER_CLOCK_CHECK) && self.deadline.passed() {
                self.stop = Some(Stop::Deadline);
            }
        }
        if self.stop.is_some() {
            interp.halt(InstructionResult::OutOfGas);
        }
    }
}

type TracingEvm = <EthEvmFactory as EvmFactory>::Evm<CacheDB<StateReader>, (TracingInspector, Budget)>;

fn tracing_evm(state: StateReader, env: EvmEnv, deadline: &Deadline) -> TracingEvm {
    let inspector =
        (TracingInspector::new(TracingInspectorConfig::none()), Budget::new(deadline.clone(), None, 0));
    EthEvmFactory::default().create_evm_with_inspector(CacheDB::new(state), env, inspector)
}

/// Runs `tx` under `tracer` without committing it, on top of `spent` bytes of trace already
/// made; returns the trace, the run's result and the bytes spent now.
fn trace_tx(
    evm: &mut TracingEvm,
    tx: TxEnv,
    tracer: &Tracer,
    spent: usize,
) -> Result<(GethTrace, ResultAndState, usize), TraceError> {
    let gas_limit = tx.gas_limit;
    let deadline = evm.inspector().1.deadline.clone();
    if deadline.passed() {
        return Err(TraceError::Timeout);
    }
    // revm-inspectors' own byte limit bounds what it copies (call inputs, memory, return data);
    // the budget bounds the rest.
    let limits = TraceLimits::default()
        .set_max_recorded_bytes(Some(MAX_TRACE_BYTES))
        .set_behavior(TraceLimitBehavior::Halt);
    let recorder = TracingInspector::new(tracer.inspector_config()).with_limits(limits);
    *evm.inspector_mut() = (recorder, Budget::new(deadline, tracer.step_cost(), spent));
    let result = evm.transact(tx);
    let (recorder, budget) = evm.inspector();
    if recorder.limit_exceeded() || budget.stop == Some(Stop::TooLarge) {
        return Err(TraceError::TooLarge(MAX_TRACE_BYTES >> 20));
    }
    if budget.stop == Some(Stop::Deadline) {
        return Err(TraceError::Timeout);
    }
    let spent = budget.bytes;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(EVMError::Transaction(e)) => return Err(TraceError::Invalid(e.to_string())),
        Err(EVMError::Database(e)) => return Err(e.into()),
        Err(e) => return Err(TraceError::Evm(e.to_string())),
    };
    evm.inspector_mut().0.set_transaction_gas_limit(gas_limit);
    let (db, (inspector, _), _) = evm.components();
    let gas_used = outcome.result.tx_gas_used();
    let trace = match tracer {
        Tracer::StructLog(opts) => {
            let output = outcome.result.output().cloned().unwrap_or_default();
            inspector.geth_builder().geth_traces(gas_used, output, *opts).into()
        }
        Tracer::Call(config) => inspector.geth_builder().geth_call_traces(*config, gas_used).into(),
        // `db` still holds the state before this transaction: the prestate is read from it.
        Tracer::Prestate(config) => {
            inspector.geth_builder().geth_prestate_traces(&outcome, config, db)?.into()
        }
        Tracer::Noop => NoopFrame::default().into(),
    };
    Ok((trace, outcome, spent))
}

/// The EVM set up as block `block` began: its parent's state, its environment, its deposits
/// credited.
fn block_start(
    db: &Db,
    config: &ChainConfig,
    block: &StoredBlock,
    deadline: &Deadline,
) -> Result<TracingEvm, TraceError> {
    let number = block.header.number;
    if number == 0 {
        return Err(TraceError::Genesis);
    }
    let header = &block.header;
    let mut env = evm_env(
        config,
        number,
        header.timestamp,
        header.base_fee_per_gas.unwrap_or_default(),
        header.mix_hash,
    );
    // What the block was made with, whatever the configuration says today.
    env.block_env.beneficiary = header.beneficiary;
    env.block_env.gas_limit = header.gas_limit;
    let mut evm = tracing_evm(StateReader::at(db.clone(), number - 1), env, deadline);
    let settlement = BlockExecutor::settlement_of(db, number)?;
    for deposit in &settlement.deposits {
        crate::executor::credit(evm.db_mut(), deposit.to, deposit.amount)?;
    }
    Ok(evm)
}

/// Traces transaction `index` of `block` (its state must be in the history window: the caller
/// checks, to answer with its own error).
pub fn trace_transaction(
    db: &Db,
    config: &ChainConfig,
    block: &StoredBlock,
    index: usize,
    opts: &GethDebugTracingOptions,
    deadline: &Deadline,
) -> Result<GethTrace, TraceError> {
    let tracer = Tracer::new(opts)?;
    let (Some(tx), Some(sender)) = (block.transactions.get(index), block.senders.get(index)) else {
        return Err(crate::Error::Corrupt(format!(
            "block {} has no transaction {index}",
            block.header.number
        ))
        .into());
    };
    let mut evm = block_start(db, config, block, deadline)?;
    evm.disable_inspector();
    for (tx, sender) in block.transactions.iter().zip(&block.senders).take(index) {
        if deadline.passed() {
            return Err(TraceError::Timeout);
        }
        replay(&mut evm, tx, *sender)?;
    }
    evm.enable_inspector();
    Ok(trace_tx(&mut evm, TxEnv::from_recovered_tx(tx, *sender), &tracer, 0)?.0)
}

/// Traces every transaction of `block`, in order, each on the state the ones before left.
pub fn trace_block(
    db: &Db,
    config: &ChainConfig,
    block: &StoredBlock,
    opts: &GethDebugTracingOptions,
    deadline: &Deadline,
) -> Result<Vec<TraceResult<GethTrace, String>>, TraceError> {
    let tracer = Tracer::new(opts)?;
    let mut evm = block_start(db, config, block, deadline)?;
    let mut traces = Vec::with_capacity(block.transactions.len());
    // One budget for the whole answer: the block's traces together stay under the bound.
    let mut spent = 0;
    for (tx, sender) in block.transactions.iter().zip(&block.senders) {
        let (trace, outcome, now_spent) =
            trace_tx(&mut evm, TxEnv::from_recovered_tx(tx, *sender), &tracer, spent)?;
        spent = now_spent;
        evm.db_mut().commit(outcome.state);
        traces.push(TraceResult::Success { result: trace, tx_hash: Some(*tx.tx_hash()) });
    }
    Ok(traces)
}

/// Traces a call on `state` in the environment `env`, as `eth_call` runs it (no base fee for
/// a call that names no gas price, no nonce check).
pub fn trace_call(
    state: StateReader,
    env: EvmEnv,
    tx: TxEnv,
    opts: &GethDebugTracingOptions,
    deadline: &Deadline,
) -> Result<GethTrace, TraceError> {
    let tracer = Tracer::new(opts)?;
    let mut evm = tracing_evm(state, call_env(env, &tx), deadline);
    Ok(trace_tx(&mut evm, tx, &tracer, 0)?.0)
}

/// Re-executes a stored transaction and commits it. It executed when its block was made, so
/// a refusal now means the node's own data is wrong.
fn replay(
    evm: &mut TracingEvm,
    tx: &alloy::consensus::TxEnvelope,
    sender: Address,
) -> Result<(), TraceError> {
    let hash: B256 = *tx.tx_hash();
    match evm.transact(TxEnv::from_recovered_tx(tx, sender)) {
        Ok(outcome) => {
            evm.db_mut().commit(outcome.state);
            Ok(())
        }
        Err(EVMError::Database(e)) => Err(e.into()),
        Err(e) => Err(TraceError::Evm(format!("replaying {hash} (nonce {}): {e}", tx.nonce()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_geth_reads_them() {
        assert_eq!(go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s", "1..2s"] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_timeout_asked_for_is_capped_by_the_node() {
        let now = Instant::now();
        let mut opts = GethDebugTracingOptions::default();
        assert_eq!(deadline(&opts, now, Duration::from_secs(60)).unwrap().at, now + DEFAULT_TRACE_TIMEOUT);
        opts.timeout = Some("2m".into());
        assert_eq!(deadline(&opts, now, Duration::from_secs(60)).unwrap().at, now + Duration::from_secs(60));
        opts.timeout = Some("18000000000000000000s".into());
        assert_eq!(
            deadline(&opts, now, Duration::MAX).unwrap().at,
            now,
            "an overflowing deadline is now, not a panic"
        );
        opts.timeout = Some("five seconds".into());
        assert!(matches!(deadline(&opts, now, Duration::from_secs(60)), Err(TraceError::InvalidOptions(_))));
    }
}
