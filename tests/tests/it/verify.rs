//! `flashlayer verify` end to end: a layer settling on anvil, rebuilt from its batch data by a
//! separate process with a fresh directory, and the findings it must name: data that does not
//! match its commitment, and a quorum that signed wrong state roots.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256, utils::parse_ether},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use flashlayer_settlement::bindings::FlashLayer;
use flashlayer_tests::{Account, Anvil, Cluster, cast, flashlayer_bin, forge_create, output, run, wait_for};
use jsonrpsee::{
    RpcModule,
    core::client::ClientT,
    http_client::HttpClientBuilder,
    server::{ServerBuilder, ServerHandle},
};
use std::{path::Path, process::Command, time::Duration};

/// Small batches so that several land within a test.
const SETTLEMENT: &[&str] =
    &["--batch-blocks", "10", "--batch-interval", "2", "--submit-timeout", "3", "--confirmations", "1"];

/// anvil's dev key 1 (key 0 deployed the contract).
const L1_USER: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn contract(cluster: &Cluster) -> Address {
    cluster.layer()["l1"]["contract"].as_str().expect("l1.contract").parse().expect("address")
}

fn flash(anvil: &Anvil, contract: Address) -> FlashLayer::FlashLayerInstance<alloy::providers::DynProvider> {
    FlashLayer::new(contract, ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap()).erased())
}

/// Waits until L1 has accepted a batch covering L2 block `block`, and at least `batches`.
async fn settled_through(anvil: &Anvil, contract: Address, block: u64, batches: u64) {
    wait_for("L1 to accept the batches", Duration::from_secs(120), async || {
        let flash = flash(anvil, contract);
        let last_block = flash.lastBlock().call().await.ok()?;
        let last_batch = flash.lastBatchIndex().call().await.ok()?;
        (last_block >= block && last_batch >= batches).then_some(())
    })
    .await;
}

fn verify(args: &[&str]) -> std::process::Output {
    output(Command::new(flashlayer_bin()).arg("verify").args(args))
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A JSON-RPC server that answers `flash_batchData` from `upstream`, with one byte of batch
/// `tampered`'s data flipped: an operator serving data that is not what it signed.
async fn tampering_proxy(upstream: String, tampered: u64) -> (String, ServerHandle) {
    let server = ServerBuilder::default().build("127.0.0.1:0").await.expect("proxy");
    let url = format!("http://{}", server.local_addr().expect("addr"));
    let mut module = RpcModule::new(upstream);
    module
        .register_async_method("flash_batchData", move |params, upstream, _| async move {
            let index: alloy::primitives::U64 = params.one()?;
            let client = HttpClientBuilder::default().build(upstream.as_str()).expect("client");
            let mut answer: serde_json::Value =
                client.request("flash_batchData", jsonrpsee::rpc_params![index]).await.expect("upstream");
            if index.to::<u64>() == tampered {
                let data: Bytes = serde_json::from_value(answer["data"].clone()).expect("data");
                let mut data = data.to_vec();
                let middle = data.len() / 2;
                data[middle] ^= 0x01;
                answer["data"] = serde_json::to_value(Bytes::from(data)).expect("json");
            }
            Ok::<_, jsonrpsee::types::ErrorObjectOwned>(answer)
        })
        .expect("method");
    let handle = server.start(module);
    (url, handle)
}

/// A copy of the layer description with `edit` applied, in `dir`.
fn edited_layer(
    cluster: &Cluster,
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let mut layer = cluster.layer();
    edit(&mut layer);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&layer).unwrap()).unwrap();
    path.display().to_string()
}

/// Transfers, a deposit, a contract deployment and calls, a withdrawal, over several batches;
/// then `verify` from a fresh directory checks every batch from one operator's data. Data with
/// one byte changed is named as such, and a wrong contract or layer description is refused.
#[tokio::test(flavor = "multi_thread")]
async fn verify_rebuilds_every_batch_from_an_operators_data() {
    let anvil = Anvil::start_l1().await;
    let cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let contract = contract(&cluster);
    let layer = cluster.dir.path().join("layer.json").display().to_string();
    let l1 = anvil.rpc_url();
    let accounts = cluster.accounts();
    let owner = &accounts[0];

    // A deposit from L1.
    let user = PrivateKeySigner::random();
    let user_account =
        Account { address: user.address(), private_key: format!("0x{}", hex::encode(user.to_bytes())) };
    run(Command::new(flashlayer_bin()).args([
        "bridge",
        "deposit",
        "--l1-rpc",
        &l1,
        "--contract",
        &contract.to_string(),
        "--private-key",
        L1_USER,
        "--to",
        &user.address().to_string(),
        "--amount",
        "3",
    ]));
    // On every node: the transfers below go through node 0 and node 1, either of which may
    // execute the deposit's block a moment after the other.
    wait_for("the deposit on L2", Duration::from_secs(60), async || {
        for node in &cluster.nodes {
            if node.provider().get_balance(user.address()).await.ok()? != parse_ether("3").unwrap() {
                return None;
            }
        }
        Some(())
    })
    .await;

    // Transfers from the deposited funds and a dev account, through different nodes.
    for (i, from) in [&user_account, &accounts[1]].into_iter().enumerate() {
        let wallet = cluster.nodes[i].wallet(from);
        for n in 0..3u64 {
            let receipt = wallet
                .send_transaction(
                    TransactionRequest::default()
                        .with_to(Address::with_last_byte(0x40 + n as u8))
                        .with_value(U256::from(1_000 + n)),
                )
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(receipt.status());
        }
    }
    // A contract deployed and called (storage writes, logs).
    let rpc = cluster.nodes[2].rpc_url();
    let token = forge_create(
        &rpc,
        &owner.private_key,
        "src/test/TestToken.sol:TestToken",
        &["Verify", "VFY", "1000000"],
    );
    for to in [Address::with_last_byte(0x51), Address::with_last_byte(0x52)] {
        cast(&[
            "send",
            "--rpc-url",
            &rpc,
            "--private-key",
            &owner.private_key,
            &token.to_string(),
            "transfer(address,uint256)",
            &to.to_string(),
            "25",
        ]);
    }
    // A withdrawal (an L2->L1 message in a batch's messages root).
    run(Command::new(flashlayer_bin()).args([
        "bridge",
        "withdraw",
        "--rpc",
        &cluster.nodes[3].rpc_url(),
        "--private-key",
        &user_account.private_key,
        "--to",
        &Address::with_last_byte(0x77).to_string(),
        "--amount",
        "1",
    ]));
    let head = cluster.nodes[0].provider().get_block_number().await.unwrap();
    settled_through(&anvil, contract, head, 3).await;

    // One operator's data, a fresh directory, no node state.
    let out = verify(&["--l1-rpc", &l1, "--layer", &layer, "--data-rpc", &cluster.nodes[2].rpc_url()]);
    let said = text(&out);
    println!("{said}");
    assert!(out.status.success(), "verify failed:\n{said}");
    assert!(said.contains("every root matches"), "{said}");
    let batches = flash(&anvil, contract).lastBatchIndex().call().await.unwrap();
    assert!(said.contains(&format!("batch {batches} ok")), "batch {batches} not reported:\n{said}");
    assert!(said.contains("1 deposits"), "the deposit was not checked:\n{said}");

    // Data with one byte changed, served for batch 2.
    let (proxy, handle) = tampering_proxy(cluster.nodes[2].rpc_url(), 2).await;
    let out = verify(&["--l1-rpc", &l1, "--layer", &layer, "--data-rpc", &proxy]);
    let said = text(&out);
    assert!(!out.status.success(), "tampered data passed:\n{said}");
    assert!(said.contains("MISMATCH in batch 2: txDataHash"), "{said}");
    assert!(said.contains("batch 1 ok"), "the batch before it should check out:\n{said}");
    handle.stop().unwrap();

    // Bad input: a contract that is not this layer's, an address without code, a layer
    // description whose genesis is not the contract's.
    let scratch = tempfile::tempdir().unwrap();
    let out = verify(&[
        "--l1-rpc",
        &l1,
        "--layer",
        &layer,
        "--data-rpc",
        &rpc,
        "--contract",
        &Address::repeat_byte(9).to_string(),
    ]);
    assert!(!out.status.success() && text(&out).contains("is not the contract of layer"), "{}", text(&out));
    let no_code = edited_layer(&cluster, scratch.path(), "no-code.json", |l| {
        l["l1"]["contract"] = serde_json::json!(Address::repeat_byte(9));
    });
    let out = verify(&["--l1-rpc", &l1, "--layer", &no_code, "--data-rpc", &rpc]);
    assert!(!out.status.success() && text(&out).contains("there is no contract at"), "{}", text(&out));
    let other_genesis = edited_layer(&cluster, scratch.path(), "other-genesis.json", |l| {
        let t = l["chain"]["genesis"]["timestamp"].clone();
        let t = t
            .as_str()
            .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
            .or(t.as_u64())
            .unwrap();
        l["chain"]["genesis"]["timestamp"] = serde_json::json!(format!("{:#x}", t + 1));
    });
    let out = verify(&["--l1-rpc", &l1, "--layer", &other_genesis, "--data-rpc", &rpc]);
    assert!(
        !out.status.success() && text(&out).contains("this is not the layer description of"),
        "{}",
        text(&out)
    );
}

/// Three of four operators sign wrong state roots (a test-only fault): their batches land on L1,
/// because they are a quorum; `verify` names the first batch, its last block and the field.
#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_batch_a_lying_quorum_signed() {
    let anvil = Anvil::start_l1().await;
    let faulty = |i: usize| {
        if i < 3 {
            vec![("FLASHLAYER_FAULT_CORRUPT_STATE_ROOT".to_string(), "1".to_string())]
        } else {
            Vec::new()
        }
    };
    let cluster = Cluster::start_with_l1_env(4, &anvil, SETTLEMENT, &faulty).await;
    let contract = contract(&cluster);
    assert!(
        cluster.log(0).contains("TEST FAULT"),
        "the fault is not active: is the binary built with the tests' features?"
    );
    let layer = cluster.dir.path().join("layer.json").display().to_string();
    settled_through(&anvil, contract, 1, 2).await;
    let first: FlashLayer::BatchRecord = flash(&anvil, contract).batch(1).call().await.unwrap();

    // The honest operator's data and a liar's data give the same verdict: the data is right,
    // the signed root is not.
    for node in [3, 0] {
        let out = verify(&[
            "--l1-rpc",
            &anvil.rpc_url(),
            "--layer",
            &layer,
            "--data-rpc",
            &cluster.nodes[node].rpc_url(),
        ]);
        let said = text(&out);
        println!("{said}");
        assert!(!out.status.success(), "a wrong state root passed:\n{said}");
        let expected =
            format!("MISMATCH in batch 1, block {}: stateRoot: {}", first.lastBlock, first.stateRoot);
        assert!(said.contains(&expected), "expected {expected:?} in:\n{said}");
    }
}

/// A layer created with `l1-calldata`: every batch posts its data with its submission, and
/// `verify` needs nothing but the L1 (no operator, no archive).
#[tokio::test(flavor = "multi_thread")]
async fn an_l1_calldata_layer_verifies_from_the_l1_alone() {
    let anvil = Anvil::start_l1().await;
    let settlement: Vec<&str> =
        SETTLEMENT.iter().copied().chain(["--data-availability", "l1-calldata"]).collect();
    let cluster = Cluster::start_with_l1(4, &anvil, &settlement).await;
    let contract = contract(&cluster);
    assert_eq!(cluster.layer()["l1"]["data_availability"], "l1-calldata", "{}", cluster.layer());
    assert_eq!(flash(&anvil, contract).dataAvailability().call().await.unwrap(), 1);
    let accounts = cluster.accounts();
    let wallet = cluster.nodes[0].wallet(&accounts[2]);
    for n in 0..4u64 {
        let receipt = wallet
            .send_transaction(
                TransactionRequest::default()
                    .with_to(Address::with_last_byte(0x60 + n as u8))
                    .with_value(U256::from(7)),
            )
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
    }
    let head = cluster.nodes[0].provider().get_block_number().await.unwrap();
    settled_through(&anvil, contract, head, 3).await;

    let layer = cluster.dir.path().join("layer.json").display().to_string();
    let out = verify(&["--l1-rpc", &anvil.rpc_url(), "--layer", &layer]);
    let said = text(&out);
    println!("{said}");
    assert!(out.status.success(), "verify from L1 failed:\n{said}");
    assert!(said.contains("every root matches") && said.contains("4 transactions"), "{said}");
}
