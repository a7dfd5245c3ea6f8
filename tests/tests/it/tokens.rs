//! What a dApp team does first: deploy an ERC-20 and an ERC-721 (OpenZeppelin, compiled by
//! forge), move and mint tokens, watch the events, and trust `eth_call` / `eth_estimateGas`
//! as much as on anvil.

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::{Filter, TransactionRequest},
    sol,
    sol_types::{SolCall, SolEvent},
};
use flashlayer_tests::{Anvil, TestNode, cast, forge_create};
use futures::StreamExt;
use std::time::Duration;

sol! {
    interface IToken {
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address who) external view returns (uint256);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
    interface INft {
        function mint(address to) external returns (uint256);
        function ownerOf(uint256 id) external view returns (address);
        function totalSupply() external view returns (uint256);
    }
}

/// `eth_call` and `eth_estimateGas` of the same request on two chains in the same state.
async fn same_answers(a: &impl Provider, b: &impl Provider, request: TransactionRequest, what: &str) {
    let (ca, cb) = (a.call(request.clone()).await, b.call(request.clone()).await);
    match (&ca, &cb) {
        (Ok(x), Ok(y)) => assert_eq!(x, y, "eth_call {what}"),
        (Err(_), Err(_)) => {}
        _ => panic!("eth_call {what}: flashlayer {ca:?} vs anvil {cb:?}"),
    }
    let (ea, eb) = (a.estimate_gas(request.clone()).await, b.estimate_gas(request).await);
    match (&ea, &eb) {
        (Ok(x), Ok(y)) => assert_eq!(x, y, "eth_estimateGas {what}"),
        (Err(_), Err(_)) => {}
        _ => panic!("eth_estimateGas {what}: flashlayer {ea:?} vs anvil {eb:?}"),
    }
}

fn call(from: Address, to: Address, data: Vec<u8>) -> TransactionRequest {
    TransactionRequest::default().from(from).to(to).input(Bytes::from(data).into())
}

#[tokio::test(flavor = "multi_thread")]
async fn erc20_and_erc721_deploy_move_mint_events_and_match_anvil() {
    let node = TestNode::start().await;
    let anvil = Anvil::start().await;
    let accounts = node.accounts();
    let (owner, bob) = (&accounts[0], &accounts[1]);
    let supply = "1000000000000000000000000";

    // The dev accounts are anvil's: the same deployer at the same nonces deploys to the same
    // addresses on both chains, so every later call can be compared one to one.
    let mut addresses = Vec::new();
    for rpc in [node.rpc_url(), anvil.rpc_url()] {
        let token = forge_create(
            &rpc,
            &owner.private_key,
            "src/test/TestToken.sol:TestToken",
            &["Flash Token", "FLT", supply],
        );
        let nft = forge_create(&rpc, &owner.private_key, "src/test/TestNFT.sol:TestNFT", &[]);
        addresses.push((token, nft));
    }
    assert_eq!(addresses[0], addresses[1], "same deployer and nonces give the same addresses");
    let (token, nft) = addresses[0];

    let l2 = node.provider();
    let l1 = ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap());

    // Subscribe before anything moves.
    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(node.ws_url())).await.expect("ws connect");
    let sub = ws.subscribe_logs(&Filter::new().address(vec![token, nft])).await.expect("logs subscription");
    let mut events = sub.into_stream();

    let amount = U256::from(10u128.pow(18));
    let transfer = IToken::transferCall { to: bob.address, amount }.abi_encode();
    let mint = INft::mintCall { to: bob.address }.abi_encode();
    let too_much = IToken::transferCall { to: owner.address, amount: U256::MAX }.abi_encode();
    same_answers(&l2, &l1, call(owner.address, token, transfer.clone()), "transfer").await;
    same_answers(&l2, &l1, call(owner.address, nft, mint.clone()), "mint").await;
    same_answers(&l2, &l1, call(bob.address, token, too_much.clone()), "transfer beyond balance (reverts)")
        .await;
    same_answers(
        &l2,
        &l1,
        call(owner.address, nft, INft::ownerOfCall { id: U256::from(1) }.abi_encode()),
        "ownerOf missing (reverts)",
    )
    .await;

    for rpc in [node.rpc_url(), anvil.rpc_url()] {
        let bob_hex = bob.address.to_string();
        for (to, sig, args) in [
            (token, "transfer(address,uint256)", vec![bob_hex.as_str(), "1000000000000000000"]),
            (nft, "mint(address)", vec![bob_hex.as_str()]),
            (nft, "mint(address)", vec![bob_hex.as_str()]),
        ] {
            let mut argv = vec!["send", "--rpc-url", &rpc, "--private-key", &owner.private_key, "--json"];
            let to = to.to_string();
            argv.push(&to);
            argv.push(sig);
            argv.extend(args);
            let out: serde_json::Value = serde_json::from_str(&cast(&argv)).unwrap();
            assert_eq!(out["status"], "0x1", "{sig} on {rpc}: {out}");
        }
    }

    assert_eq!(
        cast(&[
            "call",
            "--rpc-url",
            &node.rpc_url(),
            &token.to_string(),
            "balanceOf(address)(uint256)",
            &bob.address.to_string()
        ]),
        "1000000000000000000 [1e18]"
    );
    assert_eq!(
        cast(&["call", "--rpc-url", &node.rpc_url(), &nft.to_string(), "ownerOf(uint256)(address)", "2"]),
        bob.address.to_string()
    );

    // After the same history both chains still answer alike, including bob's own transfers.
    same_answers(
        &l2,
        &l1,
        call(
            bob.address,
            token,
            IToken::transferCall { to: owner.address, amount: U256::from(5) }.abi_encode(),
        ),
        "bob transfers",
    )
    .await;
    same_answers(
        &l2,
        &l1,
        call(bob.address, token, IToken::balanceOfCall { who: bob.address }.abi_encode()),
        "balanceOf",
    )
    .await;
    same_answers(&l2, &l1, call(owner.address, nft, INft::totalSupplyCall {}.abi_encode()), "totalSupply")
        .await;
    same_answers(&l2, &l1, call(bob.address, token, too_much), "transfer beyond balance after").await;

    // eth_getLogs: the mint of the supply at deployment, then the transfer to bob.
    let token_logs = l2
        .get_logs(
            &Filter::new().address(token).event_signature(IToken::Transfer::SIGNATURE_HASH).from_block(0),
        )
        .await
        .unwrap();
    let decoded: Vec<_> =
        token_logs.iter().map(|l| IToken::Transfer::decode_log(&l.inner).unwrap().data).collect();
    assert_eq!(decoded.len(), 2, "mint at deployment and one transfer");
    assert_eq!((decoded[0].from, decoded[0].to), (Address::ZERO, owner.address));
    assert_eq!((decoded[1].from, decoded[1].to, decoded[1].value), (owner.address, bob.address, amount));
    let nft_logs = l2
        .get_logs(
            &Filter::new()
                .address(nft)
                .event_signature(IToken::Transfer::SIGNATURE_HASH)
                .topic2(bob.address.into_word())
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(nft_logs.len(), 2, "two mints to bob");
    assert_eq!(nft_logs[1].inner.topics()[3], alloy::primitives::B256::from(U256::from(2)));

    // The WebSocket subscription saw the same three events, in order.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let log = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("subscription delivered the events in time")
            .expect("subscription open");
        seen.push(log);
    }
    assert_eq!(seen[0].address(), token);
    assert_eq!(seen[0].transaction_hash, token_logs[1].transaction_hash);
    assert_eq!(seen[1].address(), nft);
    assert_eq!(seen[2].transaction_hash, nft_logs[1].transaction_hash);
}
