//! Every admission rule of the mempool, each hit with a crafted transaction: the error is
//! geth's (code and message), and nothing changes on the node.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEnvelope, TxLegacy},
    eips::eip2718::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, TxKind, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use flashlayer_tests::TestNode;
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};

const CHAIN_ID: u64 = 13370;
const GWEI: u128 = 1_000_000_000;

fn eip1559(nonce: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1),
        ..Default::default()
    }
}

fn sign<T: SignableTransaction<alloy::primitives::Signature>>(signer: &PrivateKeySigner, mut tx: T) -> Bytes
where
    TxEnvelope: From<alloy::consensus::Signed<T>>,
{
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

async fn send(url: &str, raw: &Bytes) -> Result<String, (i32, String)> {
    let client = HttpClientBuilder::default().build(url).unwrap();
    client.request::<String, _>("eth_sendRawTransaction", rpc_params![raw]).await.map_err(|e| match e {
        jsonrpsee::core::client::Error::Call(obj) => (obj.code(), obj.message().to_string()),
        other => panic!("transport error: {other}"),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_admission_error_is_gethlike_and_changes_nothing() {
    let node = TestNode::start().await;
    let url = node.rpc_url();
    let provider = node.provider();
    let signer = node.accounts()[0].signer();
    let me = signer.address();
    let balance_before = provider.get_balance(me).await.unwrap();

    // One good transaction first, so that "nonce too low" and "already known" have something
    // to collide with.
    let good = sign(&signer, eip1559(0));
    send(&url, &good).await.expect("a valid transaction is accepted");
    let mut waited = 0;
    while provider.get_transaction_count(me).await.unwrap() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
        assert!(waited < 200, "the valid transaction was not included");
    }
    let balance = provider.get_balance(me).await.unwrap();
    assert!(balance < balance_before);

    let broke = PrivateKeySigner::random();
    // r = 0 is no point on the curve: the signature recovers to nobody.
    let unsigned =
        eip1559(1).into_signed(alloy::primitives::Signature::new(U256::ZERO, U256::from(1), false));
    let tampered = TxEnvelope::from(unsigned).encoded_2718();
    let cases: Vec<(&str, Bytes, &str)> = vec![
        (
            "oversized",
            sign(
                &signer,
                TxEip1559 { input: vec![1u8; 130 * 1024].into(), gas_limit: 16_000_000, ..eip1559(1) },
            ),
            "oversized data",
        ),
        ("garbage", Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]), "rlp"),
        (
            "wrong chain id",
            sign(&signer, TxEip1559 { chain_id: 1, ..eip1559(1) }),
            "invalid chain id for signer",
        ),
        (
            "no EIP-155",
            sign(
                &signer,
                TxLegacy {
                    chain_id: None,
                    nonce: 1,
                    gas_price: 10 * GWEI,
                    gas_limit: 21_000,
                    to: TxKind::Call(Address::ZERO),
                    ..Default::default()
                },
            ),
            "only replay-protected (EIP-155) transactions allowed over RPC",
        ),
        (
            "above block gas limit",
            sign(&signer, TxEip1559 { gas_limit: 200_000_000, ..eip1559(1) }),
            "exceeds block gas limit",
        ),
        (
            "above per-tx gas cap",
            sign(&signer, TxEip1559 { gas_limit: 20_000_000, ..eip1559(1) }),
            "transaction gas limit too high",
        ),
        (
            "tip above fee cap",
            sign(&signer, TxEip1559 { max_priority_fee_per_gas: 20 * GWEI, ..eip1559(1) }),
            "max priority fee per gas higher than max fee per gas",
        ),
        ("bad signature", Bytes::from(tampered), "invalid sender"),
        (
            "intrinsic gas",
            sign(&signer, TxEip1559 { gas_limit: 20_000, ..eip1559(1) }),
            "intrinsic gas too low",
        ),
        (
            "fee cap below base fee",
            sign(&signer, TxEip1559 { max_fee_per_gas: 1, max_priority_fee_per_gas: 1, ..eip1559(1) }),
            "max fee per gas less than block base fee",
        ),
        ("nonce too low", sign(&signer, eip1559(0)), "nonce too low"),
        ("insufficient funds", sign(&broke, eip1559(0)), "insufficient funds for gas * price + value"),
        (
            "blob transaction",
            sign(
                &signer,
                TxEip4844 {
                    chain_id: CHAIN_ID,
                    nonce: 1,
                    gas_limit: 21_000,
                    max_fee_per_gas: 10 * GWEI,
                    max_priority_fee_per_gas: GWEI,
                    to: Address::ZERO,
                    blob_versioned_hashes: vec![Default::default()],
                    max_fee_per_blob_gas: 1,
                    ..Default::default()
                },
            ),
            "transaction type not supported",
        ),
    ];
    for (what, raw, expected) in &cases {
        match send(&url, raw).await {
            Ok(hash) => panic!("{what}: accepted as {hash}"),
            Err((code, message)) => {
                assert_eq!(code, -32000, "{what}: code for {message:?}");
                assert!(message.contains(expected), "{what}: got {message:?}, want {expected:?}");
            }
        }
    }

    // A queued (future) transaction, then the pool's own rules on top of it.
    let pending = sign(&signer, eip1559(5));
    send(&url, &pending).await.expect("future nonce is queued");
    let (code, message) = send(&url, &pending).await.unwrap_err();
    assert_eq!((code, message.as_str()), (-32000, "already known"));
    let cheaper = sign(
        &signer,
        TxEip1559 { max_fee_per_gas: 10 * GWEI + 1, max_priority_fee_per_gas: GWEI + 1, ..eip1559(5) },
    );
    let (_, message) = send(&url, &cheaper).await.unwrap_err();
    assert_eq!(message, "replacement transaction underpriced");

    // Nothing the rejected transactions carried happened.
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), 1);
    assert_eq!(provider.get_balance(me).await.unwrap(), balance);
    assert_eq!(provider.get_balance(broke.address()).await.unwrap(), U256::ZERO);
    let status: serde_json::Value = provider.raw_request("txpool_status".into(), ()).await.unwrap();
    assert_eq!(status["pending"], "0x0", "{status}");
    assert_eq!(status["queued"], "0x1", "only the future-nonce transaction waits: {status}");
    // The pending nonce counts only gapless transactions.
    let pending_nonce = provider.get_transaction_count(me).pending().await.unwrap();
    assert_eq!(pending_nonce, 1);
}
