//! A clean stop (SIGTERM) and restart resumes at the same head with identical state.

use alloy::network::TransactionBuilder;
use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use flashlayer_tests::TestNode;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_then_restart_resumes_same_head_and_state() {
    let mut node = TestNode::start().await;
    let accounts = node.accounts();
    let wallet = node.wallet(&accounts[0]);
    let to = Address::repeat_byte(0x11);
    for _ in 0..3 {
        let tx = TransactionRequest::default().with_to(to).with_value(U256::from(7));
        let receipt = wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status());
    }
    let provider = node.provider();
    let head = provider.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
    let balance = provider.get_balance(to).await.unwrap();

    node.stop();
    node.restart().await;

    let provider = node.provider();
    let same =
        provider.get_block_by_number(BlockNumberOrTag::Number(head.header.number)).await.unwrap().unwrap();
    assert_eq!(same.header.hash, head.header.hash, "head block unchanged");
    assert_eq!(same.header.state_root, head.header.state_root);
    assert_eq!(provider.get_balance(to).await.unwrap(), balance);
    assert_eq!(provider.get_transaction_count(accounts[0].address).await.unwrap(), 3);

    // And it keeps going.
    let wallet = node.wallet(&accounts[0]);
    let tx = TransactionRequest::default().with_to(to).with_value(U256::from(7));
    let receipt = wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.block_number.unwrap() > head.header.number);
    assert_eq!(provider.get_balance(to).await.unwrap(), balance + U256::from(7));
}
