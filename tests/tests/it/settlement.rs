//! L1 settlement end to end: four node processes settling on a real anvil through the
//! FlashLayer contract. Deposits credited on L2, quorum-signed batches landing on L1 with the
//! `safe` and `finalized` tags following them, a withdrawal relayed once (and only once), and
//! batches that keep landing with a node (the designated submitter) down or killed right after
//! it submitted, or after an L1 outage.

use alloy::{
    eips::BlockNumberOrTag,
    network::TransactionBuilder,
    primitives::{Address, U256, utils::parse_ether},
    providers::{Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use flashlayer_settlement::bindings::FlashLayer;
use flashlayer_tests::{Anvil, Cluster, flashlayer_bin, output, run, wait_for};
use std::{process::Command, time::Duration};

/// Small batches so that several land within a test.
const SETTLEMENT: &[&str] =
    &["--batch-blocks", "10", "--batch-interval", "2", "--submit-timeout", "3", "--confirmations", "1"];

/// anvil's dev key 1 (key 0 deployed the contract).
const L1_USER: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn contract(cluster: &Cluster) -> Address {
    cluster.layer()["l1"]["contract"].as_str().expect("l1.contract").parse().expect("address")
}

fn l1(anvil: &Anvil) -> alloy::providers::DynProvider {
    ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap()).erased()
}

async fn last_batch(anvil: &Anvil, contract: Address) -> u64 {
    FlashLayer::new(contract, l1(anvil)).lastBatchIndex().call().await.unwrap()
}

/// Waits until the contract accepted a first batch (the cluster settles).
async fn first_batch_accepted(anvil: &Anvil, contract: Address) {
    wait_for("a first accepted batch", Duration::from_secs(90), async || {
        (last_batch(anvil, contract).await >= 1).then_some(())
    })
    .await;
}

/// Every `BatchAccepted` event, in order: indices must be 1, 2, 3, ... each once.
async fn accepted_indices(anvil: &Anvil, contract: Address) -> Vec<u64> {
    let filter = Filter::new()
        .address(contract)
        .event_signature(FlashLayer::BatchAccepted::SIGNATURE_HASH)
        .from_block(0);
    l1(anvil)
        .get_logs(&filter)
        .await
        .unwrap()
        .iter()
        .map(|log| FlashLayer::BatchAccepted::decode_log(&log.inner).unwrap().index)
        .collect()
}

fn bridge(args: &[&str]) -> String {
    run(Command::new(flashlayer_bin()).arg("bridge").args(args))
}

/// `flashlayer bridge deposit` of `ether` from the L1 user to `to` on L2.
fn deposit(anvil: &Anvil, contract: Address, to: Address, ether: &str) -> String {
    bridge(&[
        "deposit",
        "--l1-rpc",
        &anvil.rpc_url(),
        "--contract",
        &contract.to_string(),
        "--private-key",
        L1_USER,
        "--to",
        &to.to_string(),
        "--amount",
        ether,
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn deposit_batches_finality_and_withdrawal() {
    let anvil = Anvil::start_l1().await;
    let cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let contract = contract(&cluster);
    let node = cluster.nodes[3].provider();

    // Deposit on L1 for a fresh account; it shows up as its L2 balance.
    let user = PrivateKeySigner::random();
    let user_key = format!("0x{}", hex::encode(user.to_bytes()));
    deposit(&anvil, contract, user.address(), "5");
    let five = parse_ether("5").unwrap();
    // On every node: the transfers below go through node 1, which may execute the deposit's
    // block a moment after node 0 (gas estimation there would see no funds yet).
    wait_for("the deposit on L2", Duration::from_secs(60), async || {
        for n in &cluster.nodes {
            if n.provider().get_balance(user.address()).await.unwrap() != five {
                return None;
            }
        }
        Some(())
    })
    .await;

    // L2 transactions from the deposited funds.
    let wallet = cluster.nodes[1]
        .wallet(&flashlayer_tests::Account { address: user.address(), private_key: user_key.clone() });
    let receipt = wallet
        .send_transaction(
            TransactionRequest::default().with_to(Address::repeat_byte(0x42)).with_value(U256::from(1_000)),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());

    // Batches land on L1 (the contract takes none with fewer than 3 of the 4 signatures), and
    // `safe` and `finalized` follow them.
    wait_for("two accepted batches", Duration::from_secs(90), async || {
        (last_batch(&anvil, contract).await >= 2).then_some(())
    })
    .await;
    let safe = wait_for("the safe tag", Duration::from_secs(30), async || {
        let block = node.get_block_by_number(BlockNumberOrTag::Safe).await.unwrap()?;
        (block.header.number > 0).then_some(block.header.number)
    })
    .await;
    let settled = FlashLayer::new(contract, l1(&anvil)).lastBlock().call().await.unwrap();
    assert!(safe <= settled, "safe {safe} is past what L1 settled ({settled})");
    wait_for("the finalized tag", Duration::from_secs(60), async || {
        let block = node.get_block_by_number(BlockNumberOrTag::Finalized).await.unwrap()?;
        (block.header.number > 0).then_some(())
    })
    .await;
    let status: serde_json::Value = node.raw_request("flash_status".into(), ()).await.unwrap();
    assert!(status["settlement"]["lastAcceptedBatch"].as_u64().unwrap() >= 2, "{status}");

    // Withdraw 1 ETH to a fresh L1 address; relay it once its batch lands; only once.
    let recipient = PrivateKeySigner::random().address();
    let printed = bridge(&[
        "withdraw",
        "--rpc",
        &cluster.nodes[0].rpc_url(),
        "--private-key",
        &user_key,
        "--to",
        &recipient.to_string(),
        "--amount",
        "1",
    ]);
    let message = printed
        .split_whitespace()
        .skip_while(|w| *w != "message")
        .nth(1)
        .unwrap_or_else(|| panic!("no message hash in: {printed}"))
        .to_string();
    let relay_args = [
        "relay",
        "--rpc",
        &cluster.nodes[2].rpc_url(),
        "--l1-rpc",
        &anvil.rpc_url(),
        "--contract",
        &contract.to_string(),
        "--private-key",
        L1_USER,
        "--message",
        &message,
        "--wait",
        "90",
    ];
    bridge(&relay_args);
    assert_eq!(l1(&anvil).get_balance(recipient).await.unwrap(), parse_ether("1").unwrap());
    let again = output(Command::new(flashlayer_bin()).arg("bridge").args(relay_args));
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already relayed"), "{stderr}");
    assert_eq!(l1(&anvil).get_balance(recipient).await.unwrap(), parse_ether("1").unwrap());

    let indices = accepted_indices(&anvil, contract).await;
    assert_eq!(indices, (1..=indices.len() as u64).collect::<Vec<_>>());
}

/// With one node of four down (also the designated submitter of the next batch) batches keep
/// landing; a node killed right after it submitted and restarted leaves no batch skipped and
/// none accepted twice.
#[tokio::test(flavor = "multi_thread")]
async fn batches_land_with_a_node_down_and_across_a_submitter_crash() {
    let anvil = Anvil::start_l1().await;
    let mut cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let contract = contract(&cluster);
    first_batch_accepted(&anvil, contract).await;

    // The designated submitter of batch i is member (i - 1) mod 4 of the sorted signer set.
    let layer = cluster.layer();
    let mut members: Vec<(Address, usize)> = layer["sequencers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| (s["settlement_address"].as_str().unwrap().parse().unwrap(), i))
        .collect();
    members.sort();
    let next = last_batch(&anvil, contract).await + 1;
    let designated = members[((next - 1) % 4) as usize].1;
    cluster.kill(designated);
    wait_for("batches with the designated submitter down", Duration::from_secs(120), async || {
        (last_batch(&anvil, contract).await > next).then_some(())
    })
    .await;
    cluster.restart(designated).await;

    // Kill whichever node submits next, right after it sent its transaction; restart it.
    let before = last_batch(&anvil, contract).await;
    let logs_before: Vec<usize> = (0..4).map(|i| cluster.log(i).matches("batch submitted").count()).collect();
    let submitter = wait_for("a submission", Duration::from_secs(90), async || {
        (0..4).find(|i| cluster.log(*i).matches("batch submitted").count() > logs_before[*i])
    })
    .await;
    cluster.kill(submitter);
    cluster.restart(submitter).await;
    wait_for("more batches after the crash", Duration::from_secs(120), async || {
        (last_batch(&anvil, contract).await >= before + 2).then_some(())
    })
    .await;
    let indices = accepted_indices(&anvil, contract).await;
    assert_eq!(indices, (1..=indices.len() as u64).collect::<Vec<_>>(), "skipped or repeated batches");
}

/// An L1 outage (anvil stopped) does not stop the layer: blocks keep coming, and once the L1
/// answers again the batches that piled up land in order, none skipped or doubled.
#[tokio::test(flavor = "multi_thread")]
async fn layer_runs_through_an_l1_outage_and_catches_up() {
    let anvil = Anvil::start_l1().await;
    let cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let contract = contract(&cluster);
    first_batch_accepted(&anvil, contract).await;
    let node = cluster.nodes[0].provider();
    let head = node.get_block_number().await.unwrap();
    anvil.pause();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during = node.get_block_number().await.unwrap();
    assert!(during > head + 2, "the layer stalled with its L1 ({head} -> {during})");
    anvil.resume();
    let before = last_batch(&anvil, contract).await;
    wait_for("the piled-up batches", Duration::from_secs(120), async || {
        let settled = FlashLayer::new(contract, l1(&anvil)).lastBlock().call().await.unwrap();
        (settled >= during).then_some(())
    })
    .await;
    assert!(last_batch(&anvil, contract).await > before);
    let indices = accepted_indices(&anvil, contract).await;
    assert_eq!(indices, (1..=indices.len() as u64).collect::<Vec<_>>(), "skipped or repeated batches");
    let status: serde_json::Value = node.raw_request("flash_status".into(), ()).await.unwrap();
    assert!(status["settlement"]["l1Error"].is_null(), "{status}");
}

/// Found in review (hostile peers issue, finding 6): leaders name their newest confirmed L1
/// block as a block's origin, and a validator refuses an origin its own L1 watcher has not
/// seen; with more than f validators' L1 endpoints lagging, only lagging leaders' proposals
/// passed. Leaders now name as origin only an L1 block a quorum has said it knows (each leader
/// record carries its proposer's L1 head), and after a timed-out view a leader still proposes
/// its parent's origin for a while (`L1_ORIGIN_BACKOFF`), so L1 trouble delays deposits and
/// never blocks. Here two of four validators' L1 endpoints freeze while deposits keep arriving
/// on L1: no lagging validator refuses a proposal's origin (the sharp check), blocks keep coming
/// (at least 70% of the rate before: 30 s hold about 20 blocks, and runs differ by up to three
/// with nothing wrong), and every deposit is credited once the endpoints thaw.
#[tokio::test(flavor = "multi_thread")]
async fn blocks_keep_coming_while_two_validators_l1_endpoints_lag() {
    let anvil = Anvil::start_l1().await;
    let mut cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let contract = contract(&cluster);
    let proxy = flashlayer_tests::FreezableProxy::start(anvil.port).await;
    for i in [2, 3] {
        cluster.stop(i);
        cluster.nodes[i].l1_rpc = Some(proxy.url());
        cluster.restart(i).await;
    }
    let node = cluster.nodes[0].provider();
    // Blocks made in 30 s while a deposit lands on L1 every couple of seconds.
    let phase = async |recipients: &mut Vec<Address>| {
        let start = node.get_block_number().await.unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < until {
            let to = PrivateKeySigner::random().address();
            tokio::task::block_in_place(|| deposit(&anvil, contract, to, "0.001"));
            recipients.push(to);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        node.get_block_number().await.unwrap() - start
    };
    wait_for("a block after the restarts", Duration::from_secs(60), async || {
        let head = node.get_block_number().await.unwrap();
        (cluster.nodes[3].provider().get_block_number().await.unwrap() >= head && head > 0).then_some(())
    })
    .await;
    let mut recipients = Vec::new();
    let before = phase(&mut recipients).await;
    let refused = |i: usize| cluster.log(i).matches("outside this node's recent L1 view").count();
    let refused_before = [refused(2), refused(3)];
    proxy.freeze();
    let lagging = phase(&mut recipients).await;
    let refused_lagging = [refused(2) - refused_before[0], refused(3) - refused_before[1]];
    proxy.thaw();
    println!(
        "blocks in 30 s: {before} with every L1 endpoint fresh, {lagging} with two of four frozen; \
         origins the frozen two refused: {refused_lagging:?}"
    );
    assert_eq!(refused_lagging, [0, 0], "a leader named an L1 origin that no quorum knew");
    assert!(
        lagging as f64 >= 0.7 * before as f64,
        "two lagging L1 endpoints slowed the layer: {lagging} blocks in 30 s against {before}"
    );
    let amount = parse_ether("0.001").unwrap();
    wait_for("every deposit credited on every node", Duration::from_secs(90), async || {
        for n in &cluster.nodes {
            for to in &recipients {
                if n.provider().get_balance(*to).await.unwrap() != amount {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
}

/// Issue 15, finding 3: a batch committed only to the number of credited deposits, so after an
/// L1 reorg deeper than `confirmations` the layer's credit of a vanished deposit still settled
/// and its recipient could withdraw unbacked ETH. Here a deposit is credited on L2, the L1 is
/// reverted under it (anvil snapshot/revert) and another deposit takes its nonce: every batch
/// that counts the credited deposit carries its running deposits hash, which the contract
/// refuses (`WrongDepositsHash`), so none lands and the contract pays out nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_deposit_reorged_away_never_settles() {
    let anvil = Anvil::start_l1().await;
    let cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let contract = contract(&cluster);
    first_batch_accepted(&anvil, contract).await;
    let provider = l1(&anvil);
    let snapshot: alloy::primitives::U256 = provider.raw_request("evm_snapshot".into(), ()).await.unwrap();
    let vanishing = PrivateKeySigner::random().address();
    tokio::task::block_in_place(|| deposit(&anvil, contract, vanishing, "1"));
    let one = parse_ether("1").unwrap();
    wait_for("the deposit credited on every node", Duration::from_secs(60), async || {
        for n in &cluster.nodes {
            if n.provider().get_balance(vanishing).await.unwrap() != one {
                return None;
            }
        }
        Some(())
    })
    .await;
    // The L1 forgets it (deeper than one confirmation: the nodes had confirmed it), and another
    // deposit takes nonce 1.
    let reverted: bool = provider.raw_request("evm_revert".into(), (snapshot,)).await.unwrap();
    assert!(reverted, "evm_revert");
    let other = PrivateKeySigner::random().address();
    tokio::task::block_in_place(|| deposit(&anvil, contract, other, "3"));
    let fl = FlashLayer::new(contract, provider.clone());
    assert_eq!(fl.depositCount().call().await.unwrap(), 1, "the reorged chain has one deposit");
    let held = provider.get_balance(contract).await.unwrap();
    // Batches keep being built, signed and tried.
    wait_for("the batch counting the deposit refused on L1", Duration::from_secs(90), async || {
        (0..cluster.nodes.len())
            .any(|i| {
                cluster
                    .log(i)
                    .lines()
                    .any(|l| l.contains("rejects our batch") && l.contains("WrongDepositsHash"))
            })
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let last = fl.lastBatchIndex().call().await.unwrap();
    for index in 1..=last {
        assert_eq!(
            fl.batch(index).call().await.unwrap().lastDepositNonce,
            0,
            "batch {index} counting the vanished deposit landed"
        );
    }
    assert_eq!(provider.get_balance(contract).await.unwrap(), held, "ETH left the contract");
    println!(
        "after the reorg: {last} batch(es) accepted, none counting the vanished deposit; contract holds {held} wei"
    );
}

/// Issue 15, finding 8: nodes took the contract's genesis, supply and signer set on trust, so an
/// owner could hand operators a layer description the contract does not back. A node started
/// with a description that differs from the contract in one field refuses to run and names it.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_refuses_a_contract_that_does_not_back_its_layer_description() {
    let anvil = Anvil::start_l1().await;
    let cluster = Cluster::start_with_l1(4, &anvil, SETTLEMENT).await;
    let layer = cluster.layer();
    type Mutation = fn(&mut serde_json::Value);
    let cases: [(&str, Mutation); 6] = [
        ("genesisSupply", |l| {
            let alloc = l["chain"]["genesis"]["alloc"].as_object_mut().unwrap();
            let account = alloc.values_mut().next().unwrap();
            let balance: alloy::primitives::U256 = account["balance"].as_str().unwrap().parse().unwrap();
            account["balance"] = format!("{:#x}", balance + alloy::primitives::U256::from(1)).into();
        }),
        ("genesisBlockHash", |l| {
            l["chain"]["genesis"]["extraData"] = "0x0bad".into();
        }),
        ("signers", |l| {
            l["l1"]["threshold"] = 4.into();
        }),
        ("gracePeriod", |l| {
            l["l1"]["grace_period_secs"] = 12_345.into();
        }),
        ("watchers", |l| {
            l["l1"]["watchers"] = serde_json::json!(["0x00000000000000000000000000000000000000aa"]);
        }),
        ("consensus_key", |l| {
            let sequencers = l["sequencers"].as_array_mut().unwrap();
            let first = sequencers[0]["settlement_address"].clone();
            sequencers[0]["settlement_address"] = sequencers[1]["settlement_address"].clone();
            sequencers[1]["settlement_address"] = first;
        }),
    ];
    for (field, mutate) in cases {
        let mut changed = layer.clone();
        mutate(&mut changed);
        assert_ne!(changed, layer, "{field}: the mutation changed nothing");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.json");
        std::fs::write(&path, serde_json::to_string_pretty(&changed).unwrap()).unwrap();
        let out = tokio::task::block_in_place(|| {
            Command::new(flashlayer_bin())
                .arg("node")
                .arg("--layer")
                .arg(&path)
                .arg("--keys")
                .arg(cluster.dir.path().join("node-0").join("keys"))
                .arg("--datadir")
                .arg(dir.path().join("data"))
                .arg("--l1-rpc")
                .arg(anvil.rpc_url())
                .arg("--rpc-addr")
                .arg(format!("127.0.0.1:{}", flashlayer_tests::free_port()))
                .arg("--metrics-addr")
                .arg(format!("127.0.0.1:{}", flashlayer_tests::free_port()))
                .output()
                .unwrap()
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{field}: {}", stderr.lines().last().unwrap_or_default());
        assert!(!out.status.success(), "{field}: the node ran on a mismatching contract");
        assert!(
            stderr.contains("does not match the layer description") && stderr.contains(field),
            "{field}: {stderr}"
        );
    }
}
