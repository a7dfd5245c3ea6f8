//! The executor's loop.

use crate::{mempool::Mempool, metrics::Metrics};
use actix::{Actor, Addr, Handler, Message, SyncContext};
use flashlayer_consensus::committed::{committed_height, committed_payload};
use flashlayer_execution::{BlockExecutor, ExecutedBlock};
use flashlayer_storage::ConsensusStore;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};
use tokio::sync::broadcast;

/// Asks the executor to execute every committed block it has not executed yet.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CatchUp;

/// Sends [`CatchUp`] at most once until the executor has picked it up, so that a burst of
/// block tree writes queues one wake-up, not thousands.
#[derive(Debug, Clone)]
pub struct Waker {
    addr: Addr<ExecutorActor>,
    scheduled: Arc<AtomicBool>,
}

impl Waker {
    /// Wakes the executor.
    pub fn wake(&self) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.addr.do_send(CatchUp);
        }
    }
}

/// Executes committed blocks in order and publishes them.
pub struct ExecutorActor {
    executor: BlockExecutor,
    store: ConsensusStore,
    mempool: Arc<Mempool>,
    blocks: broadcast::Sender<Arc<ExecutedBlock>>,
    executed: Arc<AtomicU64>,
    scheduled: Arc<AtomicBool>,
    metrics: Metrics,
}

impl std::fmt::Debug for ExecutorActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorActor").field("head", &self.executor.head().number).finish()
    }
}

impl ExecutorActor {
    /// Starts the actor on its own thread; returns the waker that schedules it.
    pub fn start(
        executor: BlockExecutor,
        store: ConsensusStore,
        mempool: Arc<Mempool>,
        blocks: broadcast::Sender<Arc<ExecutedBlock>>,
        executed: Arc<AtomicU64>,
        metrics: Metrics,
    ) -> Waker {
        let scheduled = Arc::new(AtomicBool::new(false));
        // SyncArbiter wants a factory; there is exactly one executor to hand over.
        let slot = parking_lot::Mutex::new(Some(Self {
            executor,
            store,
            mempool,
            blocks,
            executed,
            scheduled: scheduled.clone(),
            metrics,
        }));
        let addr = actix::SyncArbiter::start(1, move || {
            slot.lock().take().expect("the executor actor is started once")
        });
        Waker { addr, scheduled }
    }

    fn catch_up(&mut self) -> eyre::Result<()> {
        let Some(committed) = committed_height(&self.store)? else { return Ok(()) };
        // Consensus height h is L2 block h + 1.
        while self.executor.head().number < committed + 1 {
            let height = self.executor.head().number;
            let (consensus_hash, payload) = committed_payload(&self.store, height)?;
            let started = Instant::now();
            let executed = self.executor.execute(&payload, consensus_hash, &*self.mempool)?;
            let elapsed = started.elapsed();
            self.mempool.on_executed(&executed);
            let number = executed.block.header.number;
            self.executed.store(number, Ordering::Release);
            self.metrics.on_block(&executed, elapsed);
            tracing::debug!(
                number,
                hash = %executed.block.hash,
                txs = executed.block.transactions.len(),
                skipped = executed.skipped.len(),
                ms = elapsed.as_secs_f64() * 1e3,
                "executed block"
            );
            let _ = self.blocks.send(Arc::new(executed));
        }
        self.metrics.committed_height.set((committed + 1) as i64);
        Ok(())
    }
}

impl Actor for ExecutorActor {
    type Context = SyncContext<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        // Committed blocks may be waiting from before a restart.
        if let Err(e) = self.catch_up() {
            fatal(e);
        }
    }
}

impl Handler<CatchUp> for ExecutorActor {
    type Result = ();

    fn handle(&mut self, _: CatchUp, _: &mut Self::Context) {
        // Clear first: a commit landing while we execute schedules another round.
        self.scheduled.store(false, Ordering::Release);
        if let Err(e) = self.catch_up() {
            fatal(e);
        }
    }
}

/// Execution must never silently stop while consensus goes on: a node that cannot execute
/// (storage failure, corrupt block tree) goes down loudly for its supervisor to restart.
fn fatal(e: eyre::Report) -> ! {
    tracing::error!(error = ?e, "executor failed; stopping the node");
    eprintln!("fatal: executor failed: {e:?}");
    std::process::exit(70)
}
