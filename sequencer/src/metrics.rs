//! Prometheus metrics and the health endpoint, served on their own port so that operators can
//! firewall them apart from the public JSON-RPC.

use crate::mempool::Mempool;
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use flashlayer_execution::ExecutedBlock;
use flashlayer_storage::{ConsensusStore, Db};
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// The node's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Number of the last executed block.
    pub executed_height: IntGauge,
    /// L2 number of the last committed block.
    pub committed_height: IntGauge,
    /// Transactions included in executed blocks.
    pub txs_included: IntCounter,
    /// Transactions of committed payloads left out.
    pub txs_skipped: IntCounter,
    /// Gas used by executed blocks.
    pub gas_used: IntCounter,
    /// Time to execute and write one block.
    pub block_execution: Histogram,
    /// Time to compute a block's state root.
    pub state_root: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("flashlayer".into()), None).expect("valid prefix");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let executed_height = gauge("executed_height", "Number of the last executed block");
        let committed_height = gauge("committed_height", "L2 number of the last committed block");
        let txs_included = counter("txs_included_total", "Transactions included in executed blocks");
        let txs_skipped = counter("txs_skipped_total", "Transactions of committed payloads left out");
        let gas_used = counter("gas_used_total", "Gas used by executed blocks");
        let block_execution = Histogram::with_opts(
            HistogramOpts::new("block_execution_seconds", "Time to execute and write one block")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
        )
        .expect("valid metric");
        registry.register(Box::new(block_execution.clone())).expect("unique metric");
        let state_root = Histogram::with_opts(
            HistogramOpts::new(
                "state_root_seconds",
                "Time to compute one block's state root (incremental trie: follows the changed keys)",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
        )
        .expect("valid metric");
        registry.register(Box::new(state_root.clone())).expect("unique metric");
        Self {
            registry,
            executed_height,
            committed_height,
            txs_included,
            txs_skipped,
            gas_used,
            block_execution,
            state_root,
        }
    }

    /// Records an executed block.
    pub fn on_block(&self, block: &ExecutedBlock, took: Duration) {
        self.executed_height.set(block.block.header.number as i64);
        self.txs_included.inc_by(block.block.transactions.len() as u64);
        self.txs_skipped.inc_by(block.skipped.len() as u64);
        self.gas_used.inc_by(block.block.header.gas_used);
        self.block_execution.observe(took.as_secs_f64());
        self.state_root.observe(block.state_root_time.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone)]
struct Served {
    metrics: Metrics,
    mempool: Arc<Mempool>,
    consensus: ConsensusStore,
    db: Db,
    mempool_pending: IntGauge,
    mempool_queued: IntGauge,
    view: IntGauge,
}

async fn metrics(State(s): State<Served>) -> impl IntoResponse {
    let (pending, queued) = s.mempool.counts();
    s.mempool_pending.set(pending as i64);
    s.mempool_queued.set(queued as i64);
    s.view.set(flashlayer_consensus::status(&s.consensus, None).view as i64);
    let mut out = Vec::new();
    match TextEncoder::new().encode(&s.metrics.registry.gather(), &mut out) {
        Ok(()) => (StatusCode::OK, [("content-type", "text/plain; version=0.0.4")], out).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn health(State(s): State<Served>) -> impl IntoResponse {
    let executed = s.db.head_number().ok().flatten();
    let consensus = flashlayer_consensus::status(&s.consensus, None);
    let body = serde_json::json!({
        "status": if executed.is_some() { "ok" } else { "starting" },
        "executed_height": executed,
        "committed_height": consensus.committed_height.map(|h| h + 1),
        "view": consensus.view,
    });
    let code = if executed.is_some() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(body))
}

/// Serves `/metrics` and `/health` on `addr`, and the live page (`/`, [`crate::live`]) over
/// `live`'s methods when given, until the task is dropped; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics_: Metrics,
    mempool: Arc<Mempool>,
    consensus: ConsensusStore,
    db: Db,
    live: Option<jsonrpsee::RpcModule<()>>,
) -> eyre::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let gauge = |name: &str, help: &str| -> eyre::Result<IntGauge> {
        let g = IntGauge::new(name, help)?;
        metrics_.registry.register(Box::new(g.clone()))?;
        Ok(g)
    };
    let served = Served {
        mempool_pending: gauge("mempool_pending", "Transactions ready for the next blocks")?,
        mempool_queued: gauge("mempool_queued", "Transactions waiting for an earlier nonce")?,
        view: gauge("consensus_view", "Highest HotStuff view entered")?,
        metrics: metrics_,
        mempool,
        consensus,
        db,
    };
    let mut app =
        Router::new().route("/metrics", get(metrics)).route("/health", get(health)).with_state(served);
    if let Some(methods) = live {
        app = app.merge(crate::live::router(methods));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((bound, task))
}
