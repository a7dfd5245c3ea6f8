//! `flashlayer verify` end to end: a layer settling on anvil, rebuilt from its batch data by a
//! separate process with a fresh directory, and the findings it must name: data that does not
//! match its commitment, and a quorum that signed wrong state roots.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256, utils::parse_ether},
    providers::{DynProvider, Provider, ProviderBuilder},
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

/// Sends `count` ETH transfers from `wallet`, the n-th to address `0x..{first_recipient + n}`
/// with `value(n)` wei, each waited for and successful; returns the block of the last one.
async fn transfers(wallet: &DynProvider, first_recipient: u8, count: u64, value: impl Fn(u64) -> u64) -> u64 {
    let mut last = 0;
    for n in 0..count {
        let receipt = wallet
            .send_transaction(
                TransactionRequest::default()
                    .with_to(Address::with_last_byte(first_recipient + n as u8))
                    .with_value(U256::from(value(n))),
            )
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        last = receipt.block_number.unwrap();
    }
    last
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
        transfers(&cluster.nodes[i].wallet(from), 0x40, 3, |n| 1_000 + n).await;
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
    // A verifier following the live layer from before the transfers: it checks each batch as
    // L1 accepts it (the layer never ends here, so it is stopped once it has caught up).
    let layer = cluster.dir.path().join("layer.json").display().to_string();
    let follow_log = cluster.dir.path().join("follow.log");
    let mut follower = Command::new(flashlayer_bin())
        .args(["verify", "--l1-rpc", &anvil.rpc_url(), "--layer", &layer, "--follow", "--poll-secs", "1"])
        .stdout(std::fs::File::create(&follow_log).unwrap())
        .stderr(std::fs::File::create(cluster.dir.path().join("follow.err")).unwrap())
        .spawn()
        .unwrap();
    let accounts = cluster.accounts();
    let head = transfers(&cluster.nodes[0].wallet(&accounts[2]), 0x60, 4, |_| 7).await;
    settled_through(&anvil, contract, head, 3).await;
    let accepted = flash(&anvil, contract).lastBatchIndex().call().await.unwrap();
    let err_log = cluster.dir.path().join("follow.err");
    wait_for("the follower to check every accepted batch", Duration::from_secs(60), async || {
        assert!(
            follower.try_wait().unwrap().is_none(),
            "verify --follow exited:\n{}",
            std::fs::read_to_string(&err_log).unwrap()
        );
        std::fs::read_to_string(&err_log).unwrap().contains(&format!("batch {accepted} ok")).then_some(())
    })
    .await;
    follower.kill().unwrap();
    let followed = std::fs::read_to_string(&err_log).unwrap();
    let transfers: u64 = followed
        .lines()
        .filter_map(|l| l.split(", ").nth(1)?.strip_suffix(" transactions")?.parse::<u64>().ok())
        .sum();
    assert!(transfers >= 4, "the follower re-executed {transfers} transactions:\n{followed}");
    assert!(!followed.contains("MISMATCH"), "{followed}");

    let proofs = cluster.dir.path().join("proofs.jsonl");
    let out = verify(&[
        "--l1-rpc",
        &anvil.rpc_url(),
        "--layer",
        &layer,
        "--proofs-at",
        "2",
        "--proofs-out",
        &proofs.display().to_string(),
    ]);
    let said = text(&out);
    println!("{said}");
    assert!(out.status.success(), "verify from L1 failed:\n{said}");
    assert!(said.contains("every root matches") && said.contains("4 transactions"), "{said}");

    // The proofs at batch 2: every account's proof leads to the root L1 accepted for it.
    let batch: FlashLayer::BatchRecord = flash(&anvil, contract).batch(2).call().await.unwrap();
    let file = std::fs::read_to_string(&proofs).unwrap();
    let mut lines = file.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
    let header = lines.next().unwrap();
    assert_eq!(header["batch"], 2);
    assert_eq!(header["stateRoot"], batch.stateRoot.to_string());
    let mut named = std::collections::HashMap::new();
    let mut count = 0;
    for line in lines {
        count += 1;
        let hashed: alloy::primitives::B256 = line["hashedAddress"].as_str().unwrap().parse().unwrap();
        let account = alloy_trie::TrieAccount {
            nonce: u64::from_str_radix(line["nonce"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
            balance: line["balance"].as_str().unwrap().parse().unwrap(),
            storage_root: line["storageHash"].as_str().unwrap().parse().unwrap(),
            code_hash: line["codeHash"].as_str().unwrap().parse().unwrap(),
        };
        let nodes: Vec<Bytes> = serde_json::from_value(line["accountProof"].clone()).unwrap();
        alloy_trie::proof::verify_proof(
            batch.stateRoot,
            alloy_trie::Nibbles::unpack(hashed),
            Some(alloy::rlp::encode(account)),
            &nodes,
        )
        .unwrap_or_else(|e| panic!("proof of {hashed} does not lead to batch 2's root: {e}"));
        if let Some(address) = line["address"].as_str() {
            let address: Address = address.parse().unwrap();
            assert_eq!(alloy::primitives::keccak256(address), hashed);
            named.insert(address, account.balance);
        }
    }
    assert_eq!(header["accounts"], count);
    assert!(said.contains(&format!("wrote {count} account proofs at batch 2")), "{said}");
    assert!(named.contains_key(&accounts[2].address), "the sender is named");
    // Too far: no such batch yet.
    let out = verify(&["--l1-rpc", &anvil.rpc_url(), "--layer", &layer, "--proofs-at", "999"]);
    assert!(
        !out.status.success() && text(&out).contains("--proofs-at 999: L1 has accepted"),
        "{}",
        text(&out)
    );
}

/// A layer created with `l1-blobs`: every batch is submitted in an EIP-4844 transaction whose
/// blobs carry its data, the contract records their versioned hashes, and `verify` rebuilds the
/// chain from the L1 and its blobs alone (anvil serves the beacon API's blobs endpoint).
#[tokio::test(flavor = "multi_thread")]
async fn an_l1_blobs_layer_verifies_from_its_blobs() {
    use alloy::{consensus::Transaction as _, sol_types::SolEvent};
    let anvil = Anvil::start_l1().await;
    let settlement: Vec<&str> =
        SETTLEMENT.iter().copied().chain(["--data-availability", "l1-blobs"]).collect();
    let cluster = Cluster::start_with_l1(4, &anvil, &settlement).await;
    let contract = contract(&cluster);
    assert_eq!(cluster.layer()["l1"]["data_availability"], "l1-blobs", "{}", cluster.layer());
    let flash = flash(&anvil, contract);
    assert_eq!(flash.dataAvailability().call().await.unwrap(), 2);
    let accounts = cluster.accounts();
    let head = transfers(&cluster.nodes[1].wallet(&accounts[2]), 0x70, 5, |_| 11).await;
    settled_through(&anvil, contract, head, 3).await;

    // Each accepted batch came in a blob transaction whose blobs the contract recorded.
    let l1 = ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap());
    let logs = l1
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(contract)
                .event_signature(FlashLayer::BatchBlobs::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    assert!(logs.len() >= 3, "{} BatchBlobs events", logs.len());
    for log in &logs {
        let event = FlashLayer::BatchBlobs::decode_log(&log.inner).unwrap().data;
        assert_eq!(flash.batchBlobHashes(event.index).call().await.unwrap(), event.blobHashes);
        let tx = l1.get_transaction_by_hash(log.transaction_hash.unwrap()).await.unwrap().unwrap();
        assert_eq!(tx.inner.tx_type() as u8, 3, "batch {} was not a blob transaction", event.index);
        assert_eq!(tx.blob_versioned_hashes().unwrap(), event.blobHashes.as_slice());
    }

    let layer = cluster.dir.path().join("layer.json").display().to_string();
    let out = verify(&["--l1-rpc", &anvil.rpc_url(), "--layer", &layer]);
    let said = text(&out);
    println!("{said}");
    assert!(out.status.success(), "verify from the blobs failed:\n{said}");
    assert!(said.contains("every root matches") && said.contains("5 transactions"), "{said}");
    // A beacon API that does not serve the blobs is named, not silently skipped.
    let out = verify(&["--l1-rpc", &anvil.rpc_url(), "--layer", &layer, "--l1-beacon", "http://127.0.0.1:9"]);
    let said = text(&out);
    assert!(!out.status.success() && said.contains("fetching the blobs of batch 1"), "{said}");
}

/// The state at every batch boundary stays provable after the history window passed it (what
/// an exit without operators proves against): `eth_getProof` at an old batch's last block
/// verifies against the root L1 accepted, while a block between boundaries below the window
/// gets geth's "historical state ... is not available".
#[tokio::test(flavor = "multi_thread")]
async fn proofs_at_batch_boundaries_outlive_the_history_window() {
    use alloy::eips::BlockId;
    const WINDOW: u64 = 16;
    let anvil = Anvil::start_l1().await;
    let mut cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    cluster.nodes[0].extra_args = vec!["--state-history".into(), WINDOW.to_string()];
    cluster.stop(0);
    cluster.restart(0).await;
    let contract = contract(&cluster);
    let accounts = cluster.accounts();
    let node = cluster.nodes[0].provider();
    let wallet = cluster.nodes[1].wallet(&accounts[3]);
    let to = Address::with_last_byte(0x99);
    // Transfers until two batches that closed after the restart lie well below the window.
    let start = node.get_block_number().await.unwrap();
    let flash = flash(&anvil, contract);
    let (batch, last, previous_last) = loop {
        let receipt = wallet
            .send_transaction(TransactionRequest::default().with_to(to).with_value(U256::from(1)))
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        let head = node.get_block_number().await.unwrap();
        let accepted = flash.lastBatchIndex().call().await.unwrap();
        let mut found = None;
        for i in 2..=accepted {
            let (record, previous) =
                (flash.batch(i).call().await.unwrap(), flash.batch(i - 1).call().await.unwrap());
            if previous.lastBlock > start + 2
                && record.lastBlock + WINDOW + 5 < head
                && record.lastBlock > previous.lastBlock + 1
            {
                found = Some((record.clone(), record.lastBlock, previous.lastBlock));
                break;
            }
        }
        if let Some(found) = found {
            break found;
        }
    };
    let block = node.get_block_by_number(last.into()).await.unwrap().unwrap();
    assert_eq!(block.header.state_root, batch.stateRoot, "the accepted root is the block's");
    for account in [accounts[3].address, to, Address::with_last_byte(0x5e)] {
        let proof = node.get_proof(account, vec![]).block_id(BlockId::number(last)).await.unwrap();
        let key = alloy_trie::Nibbles::unpack(alloy::primitives::keccak256(account));
        let exists = !proof.balance.is_zero() || proof.nonce != 0;
        let expected = exists.then(|| {
            alloy::rlp::encode(alloy_trie::TrieAccount {
                nonce: proof.nonce,
                balance: proof.balance,
                storage_root: proof.storage_hash,
                code_hash: proof.code_hash,
            })
        });
        alloy_trie::proof::verify_proof(batch.stateRoot, key, expected, &proof.account_proof)
            .unwrap_or_else(|e| panic!("proof of {account} at batch boundary {last} does not verify: {e}"));
    }
    // Between two boundaries, below the window: gone.
    let between = previous_last + 1;
    assert!(between < last);
    let err = node.get_balance(to).block_id(BlockId::number(between)).await.unwrap_err();
    assert!(err.to_string().contains("is not available"), "{err}");
}
