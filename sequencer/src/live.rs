//! The live page of a layer, served by every node on its metrics port (`GET /`): the phase and
//! time left, heights, throughput and mempool depth as charts, the sequencer set, settlement,
//! and a small explorer (blocks, transactions with their call trace, addresses).
//!
//! The page is one HTML file compiled into the binary (no CDN: nodes may run offline), drawing
//! its charts on canvas with plain JavaScript. It reads the node through `POST /rpc` on the same
//! port, which answers the read-only JSON-RPC methods in [`PAGE_METHODS`] from the node's own
//! method table, in process; everything else (sending transactions, admin) is refused, so the
//! page adds nothing a visitor can change.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse},
    routing::{get, post},
};
use jsonrpsee::RpcModule;
use std::sync::Arc;

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
];

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
