//! The rest of the JSON-RPC surface a dApp frontend touches: head and pending-transaction
//! subscriptions, polling filters, lookups by block and index, geth's error shapes.

use alloy::{
    eips::BlockNumberOrTag,
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::TransactionRequest,
};
use flashlayer_tests::{TestNode, forge_create};
use futures::StreamExt;
use jsonrpsee::{
    core::client::{ClientT, SubscriptionClientT},
    http_client::HttpClientBuilder,
    rpc_params,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_filters_lookups_and_errors() {
    let node = TestNode::start().await;
    let accounts = node.accounts();
    let provider = node.provider();
    let wallet = node.wallet(&accounts[0]);
    let http = HttpClientBuilder::default().build(node.rpc_url()).unwrap();

    // Subscription ids as geth, reth and anvil send them: `0x` and hex digits, a JSON string
    // (viem matches notifications to subscriptions by that string).
    let raw = jsonrpsee::ws_client::WsClientBuilder::default().build(node.ws_url()).await.unwrap();
    let sub: jsonrpsee::core::client::Subscription<serde_json::Value> =
        raw.subscribe("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe").await.unwrap();
    match sub.kind() {
        jsonrpsee::core::client::SubscriptionKind::Subscription(jsonrpsee::types::SubscriptionId::Str(
            id,
        )) => {
            assert!(
                id.len() == 34 && id.starts_with("0x") && id[2..].bytes().all(|b| b.is_ascii_hexdigit()),
                "subscription id {id:?}"
            );
        }
        other => panic!("subscription id {other:?}: not a hex string"),
    }
    sub.unsubscribe().await.unwrap();

    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(node.ws_url())).await.unwrap();
    let mut heads = ws.subscribe_blocks().await.unwrap().into_stream();
    let mut pending = ws.subscribe_pending_transactions().await.unwrap().into_stream();
    let block_filter: U256 = http.request("eth_newBlockFilter", rpc_params![]).await.unwrap();
    let pending_filter: U256 = http.request("eth_newPendingTransactionFilter", rpc_params![]).await.unwrap();
    let log_filter: U256 =
        http.request("eth_newFilter", rpc_params![serde_json::json!({"fromBlock": "latest"})]).await.unwrap();

    let to = Address::repeat_byte(0x22);
    let tx = TransactionRequest::default().with_to(to).with_value(U256::from(1));
    let receipt = wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    let hash = receipt.transaction_hash;
    let number = receipt.block_number.unwrap();

    // Subscriptions: the pending hash, then a head at or past the inclusion block.
    let seen = tokio::time::timeout(Duration::from_secs(10), pending.next()).await.unwrap().unwrap();
    assert_eq!(seen, hash);
    loop {
        let head = tokio::time::timeout(Duration::from_secs(10), heads.next()).await.unwrap().unwrap();
        if head.number >= number {
            let stored = provider.get_block_by_number(head.number.into()).await.unwrap().unwrap();
            assert_eq!(head.hash, stored.header.hash);
            break;
        }
    }

    // Filters: the block, the pending transaction; the log filter saw no log (a transfer).
    let blocks: Vec<B256> = http.request("eth_getFilterChanges", rpc_params![block_filter]).await.unwrap();
    assert!(blocks.contains(&receipt.block_hash.unwrap()), "{blocks:?}");
    let hashes: Vec<B256> = http.request("eth_getFilterChanges", rpc_params![pending_filter]).await.unwrap();
    assert_eq!(hashes, vec![hash]);
    let logs: Vec<serde_json::Value> =
        http.request("eth_getFilterChanges", rpc_params![log_filter]).await.unwrap();
    assert!(logs.is_empty());
    let again: Vec<B256> = http.request("eth_getFilterChanges", rpc_params![pending_filter]).await.unwrap();
    assert!(again.is_empty(), "changes are returned once");
    assert!(http.request::<bool, _>("eth_uninstallFilter", rpc_params![block_filter]).await.unwrap());
    let gone =
        http.request::<Vec<B256>, _>("eth_getFilterChanges", rpc_params![block_filter]).await.unwrap_err();
    assert!(gone.to_string().contains("filter not found"), "{gone}");

    // Lookups by block and index, counts, raw bytes.
    let count: U256 = http
        .request("eth_getBlockTransactionCountByNumber", rpc_params![format!("{number:#x}")])
        .await
        .unwrap();
    assert_eq!(count, U256::from(1));
    let count: U256 = http
        .request("eth_getBlockTransactionCountByHash", rpc_params![receipt.block_hash.unwrap()])
        .await
        .unwrap();
    assert_eq!(count, U256::from(1));
    let by_index: serde_json::Value = http
        .request("eth_getTransactionByBlockNumberAndIndex", rpc_params![format!("{number:#x}"), "0x0"])
        .await
        .unwrap();
    assert_eq!(by_index["hash"], serde_json::json!(hash));
    let raw: Bytes = http.request("eth_getRawTransactionByHash", rpc_params![hash]).await.unwrap();
    assert_eq!(keccak256(&raw), hash);
    let full = provider.get_block_by_number(BlockNumberOrTag::Number(number)).full().await.unwrap().unwrap();
    assert_eq!(full.transactions.txns().next().unwrap().inner.tx_hash(), &hash);
    assert!(
        provider.get_block_by_number(BlockNumberOrTag::Number(number + 1_000_000)).await.unwrap().is_none()
    );
    assert!(provider.get_transaction_by_hash(B256::repeat_byte(9)).await.unwrap().is_none());
    let sha: B256 = http.request("web3_sha3", rpc_params!["0x68656c6c6f"]).await.unwrap();
    assert_eq!(sha, keccak256(b"hello"));

    // geth's error shapes: a revert is code 3 with the revert data; no such block is refused.
    let token = forge_create(&node.rpc_url(), &accounts[0].private_key, "src/test/TestNFT.sol:TestNFT", &[]);
    let owner_of_missing = serde_json::json!({
        "to": token,
        "data": "0x6352211e0000000000000000000000000000000000000000000000000000000000000063",
    });
    let err =
        http.request::<Bytes, _>("eth_call", rpc_params![owner_of_missing, "latest"]).await.unwrap_err();
    match err {
        jsonrpsee::core::client::Error::Call(obj) => {
            assert_eq!(obj.code(), 3, "{obj:?}");
            assert!(obj.message().starts_with("execution reverted"), "{obj:?}");
            // ERC721NonexistentToken(99): selector 0x7e273289.
            assert!(obj.data().unwrap().get().contains("7e273289"), "{obj:?}");
        }
        other => panic!("unexpected {other}"),
    }
    // Recent blocks' state is kept (the history window; see the `history` tests).
    http.request::<U256, _>("eth_getBalance", rpc_params![to, "0x1"]).await.unwrap();
    let err = http.request::<U256, _>("eth_getBalance", rpc_params![to, "0xffffff"]).await.unwrap_err();
    assert!(err.to_string().contains("header not found"), "{err}");
    let err = http.request::<U256, _>("eth_nosuchmethod", rpc_params![]).await.unwrap_err();
    assert!(err.to_string().contains("Method not found"), "{err}");
}
