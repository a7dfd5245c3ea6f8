//! When the committee fails, users leave on L1 without it: a colluding quorum's bad batch is
//! disputed within its challenge window by `verify --dispute` and never pays out, and a layer
//! whose operators all stopped opens its escape after the grace period. Either way every
//! account takes exactly its balance in the last good batch with `claim --escape`, deposits
//! after that batch are refunded, and the contract keeps only what the trust model says stays.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256, utils::parse_ether},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use flashlayer_settlement::bindings::FlashLayer;
use flashlayer_tests::{Anvil, Cluster, cast, flashlayer_bin, output, wait_for};
use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

/// Small batches so that several land within a test.
const SETTLEMENT: &[&str] =
    &["--batch-blocks", "10", "--batch-interval", "2", "--submit-timeout", "3", "--confirmations", "1"];

fn flash(anvil: &Anvil, contract: Address) -> FlashLayer::FlashLayerInstance<DynProvider> {
    FlashLayer::new(contract, ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap()).erased())
}

fn l1(anvil: &Anvil) -> DynProvider {
    ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap()).erased()
}

/// A fresh L1 key with 100 ETH (anvil_setBalance): pays the disputes' and escapes' gas, so no
/// escaping account's own L1 balance moves but by what it escapes with.
fn funded_key(anvil: &Anvil) -> PrivateKeySigner {
    let key = PrivateKeySigner::random();
    cast(&[
        "rpc",
        "--rpc-url",
        &anvil.rpc_url(),
        "anvil_setBalance",
        &key.address().to_string(),
        "0x56bc75e2d63100000",
    ]);
    key
}

fn key_hex(key: &PrivateKeySigner) -> String {
    format!("0x{}", alloy::hex::encode(key.to_bytes()))
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn flashlayer(args: &[&str]) -> std::process::Output {
    output(Command::new(flashlayer_bin()).args(args))
}

/// Sends `count` transfers from `wallet` to `0x..{first + n}` of `value(n)` wei, each waited
/// for; returns the block of the last.
async fn transfers(wallet: &DynProvider, first: u8, count: u64, value: impl Fn(u64) -> U256) -> u64 {
    let mut last = 0;
    for n in 0..count {
        let to = Address::repeat_byte(first + n as u8);
        let tx = TransactionRequest::default().with_to(to).with_value(value(n));
        let receipt = wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status());
        last = receipt.block_number.unwrap();
    }
    last
}

/// One account of a `verify --proofs-at` file.
#[derive(Debug)]
struct Held {
    balance: U256,
    code: bool,
}

/// The accounts of a `--proofs-at` file by address (`None` for an account the verifier knows
/// by hashed address only), and the header's batch.
fn read_proofs(path: &Path) -> (u64, Vec<(Option<Address>, Held)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
    let header = lines.next().unwrap();
    let accounts = lines
        .map(|line| {
            let code_hash: alloy::primitives::B256 = line["codeHash"].as_str().unwrap().parse().unwrap();
            (
                line["address"].as_str().map(|a| a.parse().unwrap()),
                Held {
                    balance: line["balance"].as_str().unwrap().parse().unwrap(),
                    code: code_hash != alloy_trie::KECCAK_EMPTY,
                },
            )
        })
        .collect();
    (header["batch"].as_u64().unwrap(), accounts)
}

/// Escapes every account of the proofs file that can (a known address, no code, a balance)
/// with `claim --escape` and `source(n)` for the n-th (`--rpc URL`, `--proofs FILE` or
/// `--archive FILE`): checks each gets exactly its balance on L1, that a second escape is
/// refused, and that the contract keeps just what the trust model says stays. Returns the gas
/// of each escape.
async fn escape_everyone(
    anvil: &Anvil,
    contract: Address,
    proofs: &Path,
    source: &dyn Fn(usize) -> Vec<String>,
) -> Vec<u64> {
    let flash = flash(anvil, contract);
    let payer = funded_key(anvil);
    let (batch, accounts) = read_proofs(proofs);
    let status = flash.escapeStatus().call().await.unwrap();
    assert!(status.open, "the escape is not open");
    assert_eq!(status.index, batch, "the proofs are not at the escape batch");
    let held_before = l1(anvil).get_balance(contract).await.unwrap();
    let l2_total: U256 = accounts.iter().map(|(_, a)| a.balance).sum();
    let mut stays = U256::ZERO;
    let mut gas = Vec::new();
    for (address, held) in &accounts {
        let Some(address) = address.filter(|_| !held.code && !held.balance.is_zero()) else {
            stays += held.balance;
            continue;
        };
        let before = l1(anvil).get_balance(address).await.unwrap();
        let (l1_rpc, payer_hex) = (anvil.rpc_url(), key_hex(&payer));
        let (contract_s, address_s) = (contract.to_string(), address.to_string());
        let mut args = vec!["claim", "--escape", "--l1-rpc", &l1_rpc, "--private-key", &payer_hex];
        args.extend(["--contract", &contract_s, "--account", &address_s, "--wait", "5"]);
        let source = source(gas.len());
        args.extend(source.iter().map(String::as_str));
        let out = flashlayer(&args);
        let said = text(&out);
        assert!(out.status.success(), "escape of {address} failed:\n{said}");
        let after = l1(anvil).get_balance(address).await.unwrap();
        assert_eq!(after - before, held.balance, "{address} escaped with another amount:\n{said}");
        let used: u64 = said
            .split("(gas ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no gas figure in:\n{said}"));
        gas.push(used);
        let again = flashlayer(&args);
        assert!(
            !again.status.success() && text(&again).contains("already paid"),
            "a second escape of {address}:\n{}",
            text(&again)
        );
    }
    let held_after = l1(anvil).get_balance(contract).await.unwrap();
    let escaped: U256 = held_before - held_after;
    // What stays: contracts' and unnamed accounts' ETH, plus what the contract held beyond
    // the escape batch's L2 balances (burned fees; deposits after it, until refunded).
    assert_eq!(
        held_after,
        stays + (held_before - l2_total),
        "the contract keeps {held_after} wei after {escaped} wei escaped; unescapable balances are {stays}, and it held {held_before} against {l2_total} wei of L2 balances"
    );
    assert!(!gas.is_empty(), "nobody escaped");
    gas
}

/// `flashlayer bridge deposit` of `ether` by a fresh L1 key to its own address on L2; returns
/// the key and the deposit's nonce.
fn deposit(anvil: &Anvil, contract: Address, ether: &str) -> (PrivateKeySigner, u64) {
    let depositor = funded_key(anvil);
    let out = flashlayer(&[
        "bridge",
        "deposit",
        "--l1-rpc",
        &anvil.rpc_url(),
        "--contract",
        &contract.to_string(),
        "--private-key",
        &key_hex(&depositor),
        "--amount",
        ether,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let nonce = text(&out).rsplit("deposit nonce ").next().unwrap().trim().parse().expect("deposit nonce");
    (depositor, nonce)
}

/// `flashlayer bridge refund` of deposit `nonce`, paid by a fresh L1 key.
fn refund(anvil: &Anvil, contract: Address, nonce: u64) -> std::process::Output {
    let payer = funded_key(anvil);
    flashlayer(&[
        "bridge",
        "refund",
        "--l1-rpc",
        &anvil.rpc_url(),
        "--contract",
        &contract.to_string(),
        "--private-key",
        &key_hex(&payer),
        "--nonce",
        &nonce.to_string(),
    ])
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Three of four operators turn and sign wrong state roots from some block on. A verifier
/// following the layer with a watcher's key disputes the first bad batch within its window;
/// nothing at or after it pays out or lands any more; every account escapes with its balance
/// in the batch before, as the honest operator's node proves it; a deposit made after that
/// batch is refunded.
#[tokio::test(flavor = "multi_thread")]
async fn a_colluding_quorum_is_disputed_and_every_account_escapes() {
    let anvil = Anvil::start_l1().await;
    let watcher = funded_key(&anvil);
    let turn = tempfile::tempdir().unwrap();
    let trigger = turn.path().join("corrupt-from-block");
    let trigger_s = trigger.display().to_string();
    let faulty = |i: usize| {
        if i < 3 {
            vec![("FLASHLAYER_FAULT_CORRUPT_STATE_ROOT".to_string(), trigger_s.clone())]
        } else {
            Vec::new()
        }
    };
    let watcher_s = watcher.address().to_string();
    let settlement: Vec<&str> = SETTLEMENT
        .iter()
        .copied()
        .chain(["--challenge-window", "30", "--grace-period", "3600", "--watcher", &watcher_s])
        .collect();
    let cluster = Cluster::start_with_l1_env(4, &anvil, &settlement, &faulty).await;
    let contract: Address = cluster.layer()["l1"]["contract"].as_str().unwrap().parse().unwrap();
    let layer = cluster.dir.path().join("layer.json").display().to_string();
    assert_eq!(flash(&anvil, contract).watchers().call().await.unwrap(), vec![watcher.address()]);
    let honest = &cluster.nodes[3];

    // A verifier following the layer from the honest operator's data, ready to dispute.
    let err_log = cluster.dir.path().join("watch.err");
    let mut follower = Command::new(flashlayer_bin())
        .args(["verify", "--l1-rpc", &anvil.rpc_url(), "--layer", &layer, "--data-rpc", &honest.rpc_url()])
        .args(["--follow", "--poll-secs", "1", "--dispute"])
        .env("FLASHLAYER_WATCHER_KEY", key_hex(&watcher))
        .stdout(std::fs::File::create(cluster.dir.path().join("watch.out")).unwrap())
        .stderr(std::fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();

    // Honest activity, settled in good batches.
    let accounts = cluster.accounts();
    let head = transfers(&honest.wallet(&accounts[2]), 0x70, 3, |n| {
        parse_ether("0.01").unwrap() * U256::from(n + 1)
    })
    .await;
    wait_for("L1 to accept the honest batches", Duration::from_secs(120), async || {
        let flash = flash(&anvil, contract);
        (flash.lastBlock().call().await.ok()? >= head).then_some(())
    })
    .await;

    // The quorum turns a few blocks from now; a transfer after the turn is rolled back.
    let now = honest.provider().get_block_number().await.unwrap();
    std::fs::write(&trigger, (now + 3).to_string()).unwrap();
    // A deposit right after the turn is set: credited in a bad batch (refunded) or, if L1
    // confirmed it first, in the last good one (its balance escapes).
    let (depositor, deposit_nonce) = deposit(&anvil, contract, "3");
    let late = transfers(&honest.wallet(&accounts[4]), 0x80, 1, |_| parse_ether("0.5").unwrap()).await;
    assert!(late > now);

    // The verifier finds the first bad batch and disputes it within its window.
    let status = wait_for("verify --dispute to find the bad batch", Duration::from_secs(180), async || {
        follower.try_wait().unwrap()
    })
    .await;
    let said = std::fs::read_to_string(&err_log).unwrap();
    println!("{said}");
    assert!(!status.success(), "{said}");
    let flash = flash(&anvil, contract);
    let disputed = flash.disputedFrom().call().await.unwrap();
    assert!(disputed > 0, "nothing disputed:\n{said}");
    assert!(
        said.contains(&format!("MISMATCH in batch {disputed}"))
            && said.contains(&format!("DISPUTED batch {disputed} on L1")),
        "{said}"
    );
    assert_eq!(flash.disputedBy().call().await.unwrap(), watcher.address());
    let escape_batch = disputed - 1;
    let good: FlashLayer::BatchRecord = flash.batch(escape_batch).call().await.unwrap();
    assert!(good.lastBlock >= head, "the honest transfers are in the good state");
    assert!(good.lastBlock < now + 3, "the escape batch ends before the turn");

    // Nothing lands any more, and the node says so.
    let landed = flash.lastBatchIndex().call().await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(flash.lastBatchIndex().call().await.unwrap(), landed, "a batch landed after the dispute");
    let status = flashlayer(&["status", "--rpc", &honest.rpc_url()]);
    assert!(text(&status).contains(&format!("batch {disputed} DISPUTED on L1")), "{}", text(&status));
    // Counts for people, not JSON-RPC quantities.
    assert!(text(&status).contains("mempool            0 pending · 0 queued"), "{}", text(&status));
    assert!(cluster.log(3).contains("DISPUTED"), "the honest node did not notice the dispute");

    // The escape opens once the last good batch's window is over.
    wait_for("the escape to open", Duration::from_secs(90), async || {
        flash.escapeStatus().call().await.ok()?.open.then_some(())
    })
    .await;
    // Every account's balance at the last good batch, as a verifier rebuilds it (it stops at
    // the bad batch, after writing the proofs).
    let proofs = cluster.dir.path().join("escape-proofs.jsonl");
    let out = flashlayer(&[
        "verify",
        "--l1-rpc",
        &anvil.rpc_url(),
        "--layer",
        &layer,
        "--data-rpc",
        &honest.rpc_url(),
        "--proofs-at",
        &escape_batch.to_string(),
        "--proofs-out",
        &proofs.display().to_string(),
    ]);
    assert!(text(&out).contains(&format!("MISMATCH in batch {disputed}")), "{}", text(&out));
    // The late sender's balance is the one before its last transfer.
    let (_, held) = read_proofs(&proofs);
    let held: BTreeMap<Address, U256> = held.into_iter().filter_map(|(a, h)| Some((a?, h.balance))).collect();
    let before_late =
        honest.provider().get_balance(accounts[4].address).block_id(good.lastBlock.into()).await.unwrap();
    assert_eq!(held[&accounts[4].address], before_late);
    assert!(held[&Address::repeat_byte(0x72)] == parse_ether("0.03").unwrap());
    // The late transfer is rolled back unless a good batch closed between the turn's setting
    // and the turn itself.
    let late_recipient = held.get(&Address::repeat_byte(0x80)).copied();
    if late > good.lastBlock {
        assert_eq!(late_recipient, None, "the rolled-back recipient has a balance");
    } else {
        assert_eq!(late_recipient, Some(parse_ether("0.5").unwrap()));
    }

    // Everyone escapes with a proof from the honest operator's node.
    let rpc = honest.rpc_url();
    let gas = escape_everyone(&anvil, contract, &proofs, &|_| vec!["--rpc".into(), rpc.clone()]).await;
    println!("escape gas per account (median of {}): {}", gas.len(), median(gas));

    // A deposit after the escape batch goes back to its sender; one it credited was escaped.
    let before = l1(&anvil).get_balance(depositor.address()).await.unwrap();
    let credited = deposit_nonce <= good.lastDepositNonce;
    let out = refund(&anvil, contract, deposit_nonce);
    if credited {
        assert!(!out.status.success() && text(&out).contains("not refundable"), "{}", text(&out));
    } else {
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            l1(&anvil).get_balance(depositor.address()).await.unwrap() - before,
            parse_ether("3").unwrap()
        );
    }
}

/// Every operator stops before the final batch. After the grace period anyone can check the
/// layer from the L1 alone (an `l1-calldata` layer), write the proofs at the last batch, and
/// every account escapes with them; a deposit the layer never credited is refunded; the
/// contract keeps only what the trust model says stays.
#[tokio::test(flavor = "multi_thread")]
async fn every_account_escapes_after_the_operators_vanish() {
    let anvil = Anvil::start_l1().await;
    let settlement: Vec<&str> = SETTLEMENT
        .iter()
        .copied()
        .chain(["--data-availability", "l1-calldata", "--challenge-window", "5", "--grace-period", "20"])
        .collect();
    let mut cluster = Cluster::start_with_l1(4, &anvil, &settlement).await;
    let contract: Address = cluster.layer()["l1"]["contract"].as_str().unwrap().parse().unwrap();
    let layer = cluster.dir.path().join("layer.json").display().to_string();
    let flash = flash(&anvil, contract);
    let accounts = cluster.accounts();
    let head = transfers(&cluster.nodes[0].wallet(&accounts[3]), 0x90, 3, |n| {
        parse_ether("0.2").unwrap() * U256::from(n + 1)
    })
    .await;
    wait_for("L1 to accept the batches", Duration::from_secs(120), async || {
        (flash.lastBlock().call().await.ok()? >= head).then_some(())
    })
    .await;

    // The operators vanish.
    for i in 0..4 {
        cluster.kill(i);
    }
    let last = flash.lastBatchIndex().call().await.unwrap();
    // A deposit nobody will credit.
    let (depositor, nonce) = deposit(&anvil, contract, "2");

    // The L1 tells when the escape opens, then that it is open.
    let status_args =
        ["status", "--rpc", "http://127.0.0.1:9", "--layer", &layer, "--l1-rpc", &anvil.rpc_url()];
    let said = text(&flashlayer(&status_args));
    assert!(said.contains("escape             closed; opens at"), "{said}");
    wait_for("the grace period to pass", Duration::from_secs(60), async || {
        flash.escapeStatus().call().await.ok()?.open.then_some(())
    })
    .await;
    let said = text(&flashlayer(&status_args));
    assert!(
        said.contains(&format!("escape             OPEN: accounts take their balance in batch {last}")),
        "{said}"
    );
    // No batch may land any more.
    assert!(
        flash.escapeOpensAt().call().await.unwrap()
            <= U256::from(
                l1(&anvil).get_block_by_number(Default::default()).await.unwrap().unwrap().header.timestamp
            )
    );

    // The proofs, from the L1 alone.
    let proofs = cluster.dir.path().join("escape-proofs.jsonl");
    let out = flashlayer(&[
        "verify",
        "--l1-rpc",
        &anvil.rpc_url(),
        "--layer",
        &layer,
        "--proofs-at",
        &last.to_string(),
        "--proofs-out",
        &proofs.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // One operator archived its chain on the way out (`dispose --force --archive`): the first
    // account escapes with a proof rebuilt from that archive, the others with the verifier's.
    let archive = cluster.dir.path().join("node-0.archive.jsonl");
    let datadir = cluster.dir.path().join("node-0/data");
    let out = flashlayer(&[
        "dispose",
        "--layer",
        &layer,
        "--datadir",
        &datadir.display().to_string(),
        "--force",
        "--archive",
        &archive.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let (proofs_s, archive_s) = (proofs.display().to_string(), archive.display().to_string());
    let gas = escape_everyone(&anvil, contract, &proofs, &|n| match n {
        0 => vec!["--archive".into(), archive_s.clone()],
        _ => vec!["--proofs".into(), proofs_s.clone()],
    })
    .await;
    println!("escape gas per account (median of {}): {}", gas.len(), median(gas));

    let before = l1(&anvil).get_balance(depositor.address()).await.unwrap();
    let out = refund(&anvil, contract, nonce);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        l1(&anvil).get_balance(depositor.address()).await.unwrap() - before,
        parse_ether("2").unwrap()
    );
}

/// An operator that answers `flash_batchData` with "no data" for every batch: a committee
/// withholding what it signed.
async fn withholding_operator() -> (String, jsonrpsee::server::ServerHandle) {
    let server = jsonrpsee::server::ServerBuilder::default().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let mut module = jsonrpsee::RpcModule::new(());
    module.register_method("flash_batchData", |_, _, _| Option::<serde_json::Value>::None).unwrap();
    (url, server.start(module))
}

/// A committee layer whose operator answers it has no data for a batch L1 accepted: the watcher
/// asks while the batch's window runs, and disputes it before the window closes (nobody could
/// check it). A watcher that merely cannot reach its operator never disputes.
#[tokio::test(flavor = "multi_thread")]
async fn a_watcher_disputes_a_batch_whose_data_is_withheld() {
    let anvil = Anvil::start_l1().await;
    let watcher = funded_key(&anvil);
    let watcher_s = watcher.address().to_string();
    let settlement: Vec<&str> =
        SETTLEMENT.iter().copied().chain(["--challenge-window", "40", "--watcher", &watcher_s]).collect();
    let cluster = Cluster::start_with_l1(4, &anvil, &settlement).await;
    let contract: Address = cluster.layer()["l1"]["contract"].as_str().unwrap().parse().unwrap();
    let layer = cluster.dir.path().join("layer.json").display().to_string();
    let watch = |data_rpc: &str, name: &str| {
        Command::new(flashlayer_bin())
            .args(["verify", "--l1-rpc", &anvil.rpc_url(), "--layer", &layer, "--data-rpc", data_rpc])
            .args(["--follow", "--poll-secs", "1", "--dispute"])
            .env("FLASHLAYER_WATCHER_KEY", key_hex(&watcher))
            .stdout(std::fs::File::create(cluster.dir.path().join(format!("{name}.out"))).unwrap())
            .stderr(std::fs::File::create(cluster.dir.path().join(format!("{name}.err"))).unwrap())
            .spawn()
            .unwrap()
    };
    // A watcher whose operator is unreachable: it keeps asking, and never disputes for that.
    let mut unreachable = watch("http://127.0.0.1:9", "unreachable");
    let (withholding, _server) = withholding_operator().await;
    let mut follower = watch(&withholding, "withheld");
    let status =
        wait_for("the watcher to dispute", Duration::from_secs(120), async || follower.try_wait().unwrap())
            .await;
    let said = std::fs::read_to_string(cluster.dir.path().join("withheld.err")).unwrap();
    println!("{said}");
    assert!(!status.success(), "{said}");
    assert!(said.contains("has no data for batch 1") && said.contains("asking again"), "{said}");
    let flash = flash(&anvil, contract);
    assert_eq!(flash.disputedFrom().call().await.unwrap(), 1, "{said}");
    assert!(said.contains("DATA WITHHELD for batch 1") && said.contains("DISPUTED batch 1 on L1"), "{said}");
    unreachable.kill().unwrap();
    unreachable.wait().unwrap();
    let other = std::fs::read_to_string(cluster.dir.path().join("unreachable.err")).unwrap();
    assert!(other.contains("asking again") && !other.contains("DISPUTED"), "{other}");
}
