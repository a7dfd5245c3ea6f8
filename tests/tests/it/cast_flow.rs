//! A wallet's everyday path with `cast`: send ETH, read balance, receipt, block and nonce.

use alloy::primitives::{Address, U256};
use flashlayer_tests::{TestNode, cast};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn quantity(v: &serde_json::Value) -> u128 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    u128::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

/// `cast send` an ETH transfer with a prefunded genesis key, then check that `cast balance`,
/// `cast receipt`, `cast block latest` and `cast nonce` agree with what happened.
#[tokio::test(flavor = "multi_thread")]
async fn cast_transfer_then_balance_receipt_block_nonce() {
    let node = TestNode::start().await;
    let rpc = node.rpc_url();
    let sender = &node.accounts()[0];
    let recipient = Address::from(rand::random::<[u8; 20]>()).to_string();
    let before =
        U256::from_str_radix(&cast(&["balance", "--rpc-url", &rpc, &sender.address.to_string()]), 10)
            .unwrap();

    let sent = json(&cast(&[
        "send",
        "--rpc-url",
        &rpc,
        "--private-key",
        &sender.private_key,
        &recipient,
        "--value",
        "1.5ether",
        "--json",
    ]));
    assert_eq!(sent["status"], "0x1", "transfer failed: {sent}");
    let hash = sent["transactionHash"].as_str().unwrap().to_string();

    assert_eq!(cast(&["balance", "--rpc-url", &rpc, &recipient]), "1500000000000000000");

    let receipt = json(&cast(&["receipt", "--rpc-url", &rpc, &hash, "--json"]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["transactionHash"], hash.as_str());
    assert_eq!(receipt["from"].as_str().unwrap().to_lowercase(), sender.address.to_string().to_lowercase());
    assert_eq!(receipt["to"].as_str().unwrap().to_lowercase(), recipient.to_lowercase());
    assert_eq!(quantity(&receipt["gasUsed"]), 21_000);
    let block_number = quantity(&receipt["blockNumber"]);

    let block = json(&cast(&["block", &block_number.to_string(), "--rpc-url", &rpc, "--json"]));
    assert_eq!(block["hash"], receipt["blockHash"]);
    assert!(block["transactions"].as_array().unwrap().iter().any(|t| t == hash.as_str()));
    let latest = json(&cast(&["block", "latest", "--rpc-url", &rpc, "--json"]));
    assert!(quantity(&latest["number"]) >= block_number);
    assert_ne!(latest["stateRoot"], serde_json::Value::Null);

    assert_eq!(cast(&["nonce", "--rpc-url", &rpc, &sender.address.to_string()]), "1");

    let fee = U256::from(quantity(&receipt["gasUsed"]) * quantity(&receipt["effectiveGasPrice"]));
    let after = U256::from_str_radix(&cast(&["balance", "--rpc-url", &rpc, &sender.address.to_string()]), 10)
        .unwrap();
    assert_eq!(after, before - U256::from(1_500_000_000_000_000_000u128) - fee, "sender paid value + fee");
}

/// The small namespaces answer as geth's do.
#[tokio::test(flavor = "multi_thread")]
async fn node_identity_and_status() {
    let node = TestNode::start().await;
    let rpc = node.rpc_url();
    assert_eq!(cast(&["chain-id", "--rpc-url", &rpc]), "13370");
    assert!(cast(&["rpc", "--rpc-url", &rpc, "web3_clientVersion"]).contains("flashlayer/v"));
    assert_eq!(cast(&["rpc", "--rpc-url", &rpc, "net_version"]), "\"13370\"");
    assert_eq!(cast(&["rpc", "--rpc-url", &rpc, "eth_syncing"]), "false");
    let pool = json(&cast(&["rpc", "--rpc-url", &rpc, "txpool_status"]));
    assert_eq!(pool["pending"], "0x0");
    let status = json(&cast(&["rpc", "--rpc-url", &rpc, "flash_status"]));
    assert_eq!(status["chainId"], 13370);
    assert_eq!(status["consensus"]["validators"].as_array().unwrap().len(), 1);
    assert_eq!(status["consensus"]["leader"], status["consensus"]["validators"][0]);
    for tag in ["earliest", "latest", "pending", "safe", "finalized"] {
        let block = json(&cast(&["block", tag, "--rpc-url", &rpc, "--json"]));
        assert!(block["hash"].is_string(), "block {tag}: {block}");
    }
    let metrics = reqwest_get(&format!("http://127.0.0.1:{}/metrics", node.metrics_port)).await;
    assert!(metrics.contains("flashlayer_executed_height"), "{metrics}");
    let health = reqwest_get(&format!("http://127.0.0.1:{}/health", node.metrics_port)).await;
    assert!(health.contains("\"ok\""), "{health}");
}

async fn reqwest_get(url: &str) -> String {
    let response = alloy::transports::http::reqwest::get(url).await.expect("GET");
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    response.text().await.expect("body")
}
