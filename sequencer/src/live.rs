//! The live page of a layer, served by every node on its metrics port (`GET /`): the phase and
//! time left, heights, throughput and mempool depth as charts, the sequencer set, settlement,
//! and a small explorer (blocks, transactions with their call trace, addresses).
//!
//! The page is one HTML file compiled into the binary (no CDN: nodes may run offline), drawing
//! its charts on canvas with plain JavaScript. The node keeps the charts' data itself, one
//! [`Sample`] per second over the last [`SERIES_SECS`] (a [`Series`] fed by [`sample`]), so a
//! page opened now shows the last minutes, not only what happened since it opened. It reads the node through `POST /rpc` on the same
//! port, which answers the read-only JSON-RPC methods in [`PAGE_METHODS`] from the node's own
//! method table, in process; everything else (sending transactions, admin) is refused, so the
//! page adds nothing a visitor can change.

use crate::mempool::Mempool;
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse},
    routing::{get, post},
};
use flashlayer_execution::ExecutedBlock;
use jsonrpsee::RpcModule;
use parking_lot::Mutex;
use serde::Serialize;
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tokio::sync::broadcast;

/// The page.
const PAGE: &str = include_str!("live/index.html");

/// Largest answer the page's RPC passes on (a block with its transactions, a call trace).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The JSON-RPC methods the page may call: reads only.
pub const PAGE_METHODS: &[&str] = &[
    "eth_chainId",
    "eth_blockNumber",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "txpool_status",
    "flash_status",
    "debug_traceTransaction",
    "flash_batches",
    "flash_claims",
    "flash_liveSeries",
];

/// Seconds of samples a node keeps for the page's charts.
pub const SERIES_SECS: usize = 300;
/// The window of the inclusion latency each sample reports.
const LATENCY_WINDOW: Duration = Duration::from_secs(5);

/// One second of the layer as this node saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// The second's end (Unix seconds, this node's clock).
    pub t: u64,
    /// Transactions in the blocks executed in that second.
    pub txs: u64,
    /// Blocks executed in that second.
    pub blocks: u64,
    /// Mempool depth (pending + queued) at its end.
    pub mempool: u64,
    /// Inclusion latency p50 and p95 (ms) over the last 5 s; absent when no transaction this
    /// node held was included then.
    pub latency_ms: Option<(u64, u64)>,
}

/// The last [`SERIES_SECS`] seconds of [`Sample`]s: a plain state machine, fed executed blocks
/// as they come and closed once a second.
#[derive(Debug, Default)]
pub struct Series {
    samples: VecDeque<Sample>,
    txs: u64,
    blocks: u64,
}

impl Series {
    /// A block with `txs` transactions was executed.
    pub fn on_block(&mut self, txs: u64) {
        self.txs += txs;
        self.blocks += 1;
    }

    /// Ends the second at `t` with the mempool and latency as they are now.
    pub fn close_second(&mut self, t: u64, mempool: u64, latency_ms: Option<(u64, u64)>) {
        let sample = Sample { t, txs: self.txs, blocks: self.blocks, mempool, latency_ms };
        (self.txs, self.blocks) = (0, 0);
        self.samples.push_back(sample);
        while self.samples.len() > SERIES_SECS {
            self.samples.pop_front();
        }
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().copied().collect()
    }
}

/// A [`Series`] shared between its sampler and the RPC.
pub type SharedSeries = Arc<Mutex<Series>>;

/// Feeds `series` from the executed blocks and the mempool, one sample a second, until the
/// block channel closes (the node stops).
pub async fn sample(
    series: SharedSeries,
    mut blocks: broadcast::Receiver<Arc<ExecutedBlock>>,
    mempool: Arc<Mempool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            block = blocks.recv() => match block {
                Ok(block) => series.lock().on_block(block.block.transactions.len() as u64),
                // Blocks missed under load: counted, their transactions are not.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let mut series = series.lock();
                    for _ in 0..missed {
                        series.on_block(0);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let now = crate::lifecycle::now_secs();
                let (pending, queued) = mempool.counts();
                let latency = mempool.inclusion_latency(LATENCY_WINDOW);
                let latency = (latency.samples > 0).then_some((latency.p50_ms, latency.p95_ms));
                series.lock().close_second(now, (pending + queued) as u64, latency);
            }
        }
    }
}

/// The block explorer of the public L1s whose explorer is well known, by chain id: the
/// default of `--l1-explorer`.
pub fn known_l1_explorer(chain_id: u64) -> Option<&'static str> {
    match chain_id {
        1 => Some("https://etherscan.io"),
        11_155_111 => Some("https://sepolia.etherscan.io"),
        17_000 => Some("https://holesky.etherscan.io"),
        560_048 => Some("https://hoodi.etherscan.io"),
        _ => None,
    }
}

/// Checks an `--l1-explorer` URL: `http(s)://host[/path]` without a query or fragment (the
/// page appends `/tx/<hash>` and puts it in links). Returns it without a trailing slash.
pub fn parse_explorer_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url:?} names no host"));
    }
    if let Some(c) =
        rest.chars().find(|c| matches!(c, '?' | '#' | '"' | '\'' | '<' | '>' | ' ') || c.is_control())
    {
        return Err(format!(
            "{url:?} contains {c:?}: give the explorer's base URL, e.g. https://sepolia.etherscan.io"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Routes of the live page over `methods` (the node's JSON-RPC method table).
pub fn router(methods: RpcModule<()>) -> Router {
    Router::new().route("/", get(page)).route("/rpc", post(rpc)).with_state(Arc::new(methods))
}

async fn page() -> impl IntoResponse {
    // The page calls back only its own origin: a strict policy costs nothing.
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        )],
        Html(PAGE),
    )
}

/// One JSON-RPC request from the page, answered in process if its method is a read the page
/// needs.
async fn rpc(State(methods): State<Arc<RpcModule<()>>>, body: String) -> impl IntoResponse {
    let json = |code: StatusCode, body: String| (code, [(header::CONTENT_TYPE, "application/json")], body);
    let request: serde_json::Value = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(e) => {
            return json(
                StatusCode::BAD_REQUEST,
                error(serde_json::Value::Null, -32700, &format!("parse error: {e}")),
            );
        }
    };
    let id = request.get("id").cloned().unwrap_or(serde_json::Value::Null);
    let method = request.get("method").and_then(|m| m.as_str()).unwrap_or_default();
    if !PAGE_METHODS.contains(&method) {
        let message = format!("the method {method} does not exist/is not available on the live page");
        return json(StatusCode::OK, error(id, -32601, &message));
    }
    match methods.raw_json_request(&body, 1).await {
        Ok((answer, _)) if answer.get().len() <= MAX_ANSWER_BYTES => {
            json(StatusCode::OK, answer.get().to_owned())
        }
        Ok(_) => json(StatusCode::OK, error(id, -32000, "the answer is too large for the live page")),
        Err(e) => json(StatusCode::BAD_REQUEST, error(id, -32600, &format!("invalid request: {e}"))),
    }
}

fn error(id: serde_json::Value, code: i64, message: &str) -> String {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_closes_one_sample_a_second_and_keeps_the_last_minutes() {
        let mut series = Series::default();
        series.on_block(3);
        series.on_block(4);
        series.close_second(100, 7, Some((250, 900)));
        series.close_second(101, 0, None);
        assert_eq!(
            series.samples(),
            vec![
                Sample { t: 100, txs: 7, blocks: 2, mempool: 7, latency_ms: Some((250, 900)) },
                Sample { t: 101, txs: 0, blocks: 0, mempool: 0, latency_ms: None },
            ]
        );
        for t in 102..102 + SERIES_SECS as u64 {
            series.on_block(1);
            series.close_second(t, 0, None);
        }
        let samples = series.samples();
        assert_eq!(samples.len(), SERIES_SECS);
        assert_eq!(samples[0].t, 102, "the oldest seconds fall out");
        assert!(samples.iter().all(|s| s.txs == 1 && s.blocks == 1));
    }

    #[test]
    fn explorer_urls_are_plain_http_bases() {
        assert_eq!(
            parse_explorer_url("https://sepolia.etherscan.io/").unwrap(),
            "https://sepolia.etherscan.io"
        );
        assert_eq!(parse_explorer_url("http://10.0.0.5:4000/l1").unwrap(), "http://10.0.0.5:4000/l1");
        for bad in [
            "javascript:alert(1)",
            "ftp://x",
            "https://",
            "https:///path",
            "https://x/?q=1",
            "https://x/#a",
            "https://x/\"onclick=",
            "https://x/<b>",
            "sepolia.etherscan.io",
        ] {
            assert!(parse_explorer_url(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(known_l1_explorer(11_155_111), Some("https://sepolia.etherscan.io"));
        assert_eq!(known_l1_explorer(31_337), None);
    }
}
