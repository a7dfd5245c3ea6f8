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
    "flash_batches",
    "flash_claims",
];

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
    fn explorer_urls_are_plain_http_bases() {
        assert_eq!(parse_explorer_url("https://sepolia.etherscan.io/").unwrap(), "https://sepolia.etherscan.io");
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
