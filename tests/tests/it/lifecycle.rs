//! A flash layer's whole life on anvil, driven through the CLI the way a dApp team and its
//! operators drive it: operators generate keys, the owner creates the layer from a parameter
//! file, operators start their nodes from the written description, users deposit on L1 and
//! mint NFTs on L2 (gasless, first come first served), the deadline passes (or the owner
//! closes the layer early on L1), the final batch lands, balances are claimed on L1 (from a
//! node, then from the archive), the NFT mints are relayed to the example L1 collection, and
//! `dispose` leaves no node data behind. Bad `create` inputs fail before anything is sent.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U256, utils::parse_ether},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent, SolValue},
};
use flashlayer_execution::messages::L2_MESSAGE_PASSER;
use flashlayer_settlement::bindings::{FlashLayer, L2MessagePasser};
use flashlayer_tests::{Anvil, flashlayer_bin, free_port, output, run, spawn_node_with, wait_for, wait_rpc};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

alloy::sol!(
    #[sol(rpc)]
    FlashMintNft,
    "../contracts/artifacts/FlashMintNft.json"
);
alloy::sol!(
    #[sol(rpc)]
    L1MintCollection,
    "../contracts/artifacts/L1MintCollection.json"
);

/// anvil's dev keys: 0 owns the layer, 1-3 are users.
const OWNER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const USER_KEYS: [&str; 3] = [
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

fn signer(key: &str) -> PrivateKeySigner {
    key.parse().unwrap()
}

fn http(url: &str) -> DynProvider {
    ProviderBuilder::new().connect_http(url.parse().unwrap()).erased()
}

fn wallet(url: &str, key: &str) -> DynProvider {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer(key)))
        .connect_http(url.parse().unwrap())
        .erased()
}

fn flashlayer(args: &[&str]) -> std::process::Output {
    output(Command::new(flashlayer_bin()).args(args))
}

/// Generates operator `i`'s keys under `dir/node-i/keys`, encrypted under the password in
/// `dir/password`; returns its `--sequencer` spec.
fn operator(dir: &Path, i: usize) -> String {
    let keys = dir.join(format!("node-{i}/keys"));
    let password = dir.join("password");
    std::fs::write(&password, "operator secret\n").unwrap();
    let shown = run(Command::new(flashlayer_bin())
        .args(["keys", "generate", "--password-file"])
        .arg(&password)
        .arg("--dir")
        .arg(&keys));
    assert!(shown.contains("encrypted"), "{shown}");
    let field = |label: &str| {
        shown
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in {shown}"))
            .trim()
            .to_string()
    };
    let key = field("consensus key (ed25519):");
    let address = field("settlement address:");
    format!("{key},{address},/ip4/127.0.0.1/tcp/{}", free_port())
}

/// A created layer and its operators' nodes.
struct Life {
    dir: tempfile::TempDir,
    l1_rpc: String,
    contract: Address,
    nodes: Vec<Option<Child>>,
    rpc_ports: Vec<u16>,
}

impl Life {
    /// Creates a 4-operator layer with `params` (JSON) and starts the operators' nodes.
    async fn start(anvil: &Anvil, params: serde_json::Value) -> Self {
        let dir = tempfile::Builder::new().prefix("flashlayer-life-").tempdir().unwrap();
        let specs: Vec<String> = (0..4).map(|i| operator(dir.path(), i)).collect();
        let params_path = dir.path().join("params.json");
        std::fs::write(&params_path, params.to_string()).unwrap();
        let l1_rpc = anvil.rpc_url();
        let mut args = vec!["create", "--l1-rpc", &l1_rpc, "--owner-key", OWNER_KEY, "--params"];
        let params_arg = params_path.to_str().unwrap().to_string();
        let out_arg = dir.path().join("layer.json").to_str().unwrap().to_string();
        args.extend([params_arg.as_str(), "--out", out_arg.as_str()]);
        for spec in &specs {
            args.extend(["--sequencer", spec.as_str()]);
        }
        let created = run(Command::new(flashlayer_bin()).args(&args));
        assert!(created.contains("created layer"), "{created}");
        let layer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("layer.json")).unwrap()).unwrap();
        let contract = layer["l1"]["contract"].as_str().unwrap().parse().unwrap();
        let mut life = Self { dir, l1_rpc, contract, nodes: Vec::new(), rpc_ports: Vec::new() };
        for i in 0..4 {
            let port = free_port();
            let log = life.dir.path().join(format!("node-{i}/node.log"));
            let password = life.dir.path().join("password");
            let child = spawn_node_with(
                life.dir.path(),
                i,
                port,
                free_port(),
                &log,
                &["--l1-rpc", &life.l1_rpc, "--password-file", password.to_str().unwrap()],
            );
            life.nodes.push(Some(child));
            life.rpc_ports.push(port);
        }
        for i in 0..4 {
            let url = life.rpc(i);
            let log = life.log(i);
            wait_rpc(&url, life.nodes[i].as_mut().unwrap(), || log.clone()).await;
        }
        life
    }

    fn rpc(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.rpc_ports[i])
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node-{i}/node.log"))).unwrap_or_default()
    }

    fn datadir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}/data"))
    }

    fn layer_path(&self) -> PathBuf {
        self.dir.path().join("layer.json")
    }

    fn l1_contract(&self) -> FlashLayer::FlashLayerInstance<DynProvider> {
        FlashLayer::new(self.contract, http(&self.l1_rpc))
    }

    async fn status(&self, i: usize) -> serde_json::Value {
        let client = jsonrpsee::http_client::HttpClientBuilder::default().build(self.rpc(i)).unwrap();
        use jsonrpsee::core::client::ClientT;
        client.request("flash_status", jsonrpsee::rpc_params![]).await.unwrap()
    }

    /// Deposits `eth` on L1 from `key` to its own address and waits until every node credited it.
    async fn deposit(&self, key: &str, eth: &str) {
        let to = signer(key).address();
        let before = http(&self.rpc(0)).get_balance(to).await.unwrap();
        let contract = self.contract.to_string();
        run(Command::new(flashlayer_bin()).args([
            "bridge",
            "deposit",
            "--l1-rpc",
            &self.l1_rpc,
            "--contract",
            &contract,
            "--private-key",
            key,
            "--amount",
            eth,
        ]));
        let expected = before + parse_ether(eth).unwrap();
        for i in 0..4 {
            let provider = http(&self.rpc(i));
            wait_for("the deposit on every node", Duration::from_secs(60), async || {
                (provider.get_balance(to).await.ok()? == expected).then_some(())
            })
            .await;
        }
    }

    /// Waits until the contract is settled (the final batch accepted) and finalized on L1.
    async fn wait_settled(&self) {
        let contract = self.l1_contract();
        wait_for("the final batch on L1", Duration::from_secs(120), async || {
            contract.settled().call().await.ok()?.then_some(())
        })
        .await;
        wait_for("the final batch finalized on L1", Duration::from_secs(60), async || {
            let s = self.status(0).await;
            (s["settlement"]["settledFinalized"] == true).then_some(())
        })
        .await;
    }

    fn claim(&self, key: &str, source: &[&str]) -> std::process::Output {
        let contract = self.contract.to_string();
        let mut args = vec!["claim", "--l1-rpc", &self.l1_rpc, "--contract", &contract, "--private-key", key];
        args.extend(source);
        flashlayer(&args)
    }

    /// Disposes of every node (node 0 archived to `archive`); checks no data is left.
    fn dispose_all(&mut self, archive: &Path) {
        for i in 0..4 {
            let datadir = self.datadir(i);
            let mut args = vec![
                "dispose".to_string(),
                "--layer".into(),
                self.layer_path().to_str().unwrap().into(),
                "--datadir".into(),
                datadir.to_str().unwrap().into(),
                "--l1-rpc".into(),
                self.l1_rpc.clone(),
            ];
            if i == 0 {
                args.extend(["--archive".into(), archive.to_str().unwrap().into()]);
            }
            let out = run(Command::new(flashlayer_bin()).args(&args));
            assert!(out.contains("disposed"), "{out}");
            assert!(!datadir.exists(), "dispose left {} behind", datadir.display());
            let mut child = self.nodes[i].take().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "node {i} still runs after dispose");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a gasless L2 transaction (no fees) from `key` and returns its receipt.
async fn gasless(rpc: &str, key: &str, tx: TransactionRequest) -> alloy::rpc::types::TransactionReceipt {
    let tx = tx.with_max_fee_per_gas(0).with_max_priority_fee_per_gas(0);
    let receipt = wallet(rpc, key).send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "L2 transaction {} reverted", receipt.transaction_hash);
    receipt
}

fn base_params(duration_secs: u64, extra_alloc: Address) -> serde_json::Value {
    serde_json::json!({
        "name": "mint-day",
        "chain_id": 4242,
        "duration_secs": duration_secs,
        "block_interval_ms": 200,
        "gas_limit": 30000000,
        "ordering": "fcfs",
        "gasless": true,
        "token": {"name": "Flash Ether", "symbol": "FETH"},
        "alloc": {extra_alloc.to_string(): {"balance": "0x4563918244f40000"}},
        "challenge_window_secs": 2,
        "batch_blocks": 20,
        "batch_interval_secs": 3,
        "submit_timeout_secs": 3,
        "fund_settlement_eth": "1",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_life_from_create_to_dispose() {
    let anvil = Anvil::start_l1().await;
    let [depositor, deployer, backer] = USER_KEYS;
    let backer_address = signer(backer).address();
    // Genesis gives `backer` 5 ETH: `create` locks 5 ETH in the contract for it.
    let mut life = Life::start(&anvil, base_params(40, backer_address)).await;
    let l1 = http(&life.l1_rpc);
    assert_eq!(l1.get_balance(life.contract).await.unwrap(), parse_ether("5").unwrap());
    let status = wait_for("the layer to go live", Duration::from_secs(30), async || {
        let status = life.status(0).await;
        (status["lifecycle"]["phase"] == "live").then_some(status)
    })
    .await;
    assert_eq!(status["sequencers"].as_array().unwrap().len(), 4);

    // A user bridges 2 ETH in.
    life.deposit(depositor, "2").await;

    // The L1 collection is deployed first, for the L2 minter's address-to-be (the deployer's
    // first L2 transaction); then the minter on L2, for free.
    let l2_minter = signer(deployer).address().create(0);
    let collection =
        L1MintCollection::deploy(wallet(&life.l1_rpc, deployer), life.contract, l2_minter).await.unwrap();
    let deploy = TransactionRequest::default()
        .with_deploy_code([FlashMintNft::BYTECODE.to_vec(), collection.address().abi_encode()].concat());
    let receipt = gasless(&life.rpc(1), deployer, deploy).await;
    assert_eq!(receipt.contract_address, Some(l2_minter));
    // Mints go through every node: each must have executed the deployment (gas is estimated
    // against the node's own state).
    for i in 0..4 {
        let provider = http(&life.rpc(i));
        wait_for("the minter on every node", Duration::from_secs(30), async || {
            (!provider.get_code_at(l2_minter).await.ok()?.is_empty()).then_some(())
        })
        .await;
    }

    // Mint day: three users mint on L2 (no ETH needed), each mint an L2->L1 message.
    let mut mints: Vec<(B256, Address)> = Vec::new();
    for (i, key) in [depositor, deployer, backer, depositor].into_iter().enumerate() {
        let call = FlashMintNft::mintCall {}.abi_encode();
        let tx = TransactionRequest::default().with_to(l2_minter).with_input(call);
        let receipt = gasless(&life.rpc(i % 4), key, tx).await;
        let sent = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == L2_MESSAGE_PASSER)
            .find_map(|l| L2MessagePasser::MessageSent::decode_log(&l.inner).ok())
            .expect("a MessageSent event");
        mints.push((sent.messageHash, signer(key).address()));
    }

    // The deployer gets 1 ETH on L2 and names an L1 treasury for its final balance (as an L2
    // contract whose own address means nothing on L1 would).
    let treasury = Address::repeat_byte(0x7e);
    let transfer = TransactionRequest::default()
        .with_to(signer(deployer).address())
        .with_value(parse_ether("1").unwrap());
    gasless(&life.rpc(2), backer, transfer).await;
    let name = L2MessagePasser::setClaimRecipientCall { l1Recipient: treasury }.abi_encode();
    gasless(
        &life.rpc(2),
        deployer,
        TransactionRequest::default().with_to(L2_MESSAGE_PASSER).with_input(name),
    )
    .await;

    // The deadline passes: the layer ends, RPC refuses new transactions and says why.
    wait_for("the layer to close", Duration::from_secs(90), async || {
        (life.status(2).await["lifecycle"]["phase"] != "live").then_some(())
    })
    .await;
    let refused = wallet(&life.rpc(2), depositor)
        .send_transaction(
            TransactionRequest::default()
                .with_to(Address::repeat_byte(7))
                .with_value(U256::from(1))
                .with_max_fee_per_gas(0)
                .with_max_priority_fee_per_gas(0)
                .with_gas_limit(21_000),
        )
        .await
        .expect_err("a closed layer takes no transactions");
    assert!(refused.to_string().contains("layer closed"), "{refused}");

    // The final batch lands; deposits are refused on L1 from the deadline on.
    life.wait_settled().await;
    let status = life.status(0).await;
    assert_eq!(status["lifecycle"]["phase"], "settled", "{status}");
    assert!(status["lifecycle"]["closedReason"].as_str().unwrap().contains("ended at block"), "{status}");
    let ended_at = status["lifecycle"]["endedAtBlock"].as_u64().unwrap();
    assert_eq!(life.l1_contract().lastBlock().call().await.unwrap(), ended_at);
    let late = flashlayer(&[
        "bridge",
        "deposit",
        "--l1-rpc",
        &life.l1_rpc,
        "--contract",
        &life.contract.to_string(),
        "--private-key",
        depositor,
        "--amount",
        "1",
    ]);
    assert!(!late.status.success(), "a deposit after the deadline must fail");

    // The depositor claims its 2 ETH on L1 with a proof from a node.
    let before = l1.get_balance(signer(depositor).address()).await.unwrap();
    let out = life.claim(depositor, &["--rpc", &life.rpc(3)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = l1.get_balance(signer(depositor).address()).await.unwrap();
    assert!(after > before + parse_ether("1.99").unwrap(), "claim paid {} wei", after - before);
    let again = life.claim(depositor, &["--rpc", &life.rpc(3)]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already claimed"));
    // The deployer's balance goes to the treasury it named, not to its own L1 address.
    let out = life.claim(deployer, &["--rpc", &life.rpc(0)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("named recipient"));
    assert_eq!(l1.get_balance(treasury).await.unwrap(), parse_ether("1").unwrap(), "paid to the treasury");

    // Every mint is relayed to L1: the collection holds the same tokens with the same owners.
    let contract = life.contract.to_string();
    for (hash, _) in &mints {
        run(Command::new(flashlayer_bin()).args([
            "bridge",
            "relay",
            "--rpc",
            &life.rpc(0),
            "--l1-rpc",
            &life.l1_rpc,
            "--contract",
            &contract,
            "--private-key",
            depositor,
            "--message",
            &hash.to_string(),
        ]));
    }
    let on_l1 = L1MintCollection::new(*collection.address(), l1.clone());
    for (token, (_, owner)) in mints.iter().enumerate() {
        assert_eq!(on_l1.ownerOf(U256::from(token + 1)).call().await.unwrap(), *owner);
    }

    // Dispose of every node (node 0's chain archived); then the genesis-backed account claims
    // from the archive alone.
    let archive = life.dir.path().join("archive.jsonl");
    life.dispose_all(&archive);
    let lines = std::fs::read_to_string(&archive).unwrap().lines().count() as u64;
    assert!(lines >= ended_at + 2, "archive of {lines} lines for a chain ended at {ended_at}");
    // Anyone can still check the whole settled chain, final balances included, from the archive
    // and the L1 alone.
    let out = output(
        Command::new(flashlayer_bin()).args(["verify", "--l1-rpc", &life.l1_rpc, "--archive"]).arg(&archive),
    );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "verify from the archive failed:\n{said}");
    assert!(said.contains("final balances") && said.contains("the layer is settled"), "{said}");
    let before = l1.get_balance(backer_address).await.unwrap();
    let out = life.claim(backer, &["--archive", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(l1.get_balance(backer_address).await.unwrap() > before + parse_ether("3.99").unwrap());
    // Everything bridged in (deposit + genesis backing) went back out: nothing is left behind.
    assert_eq!(l1.get_balance(life.contract).await.unwrap(), U256::ZERO);
    // With its nodes gone, the layer's status comes from the L1.
    let printed = run(Command::new(flashlayer_bin())
        .args(["status", "--rpc", &life.rpc(0), "--l1-rpc", &life.l1_rpc, "--layer"])
        .arg(life.layer_path()));
    assert!(printed.contains("disposed"), "{printed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_early_on_l1_ends_the_layer_like_its_deadline() {
    let anvil = Anvil::start_l1().await;
    let [depositor, late, backer] = USER_KEYS;
    let mut life = Life::start(&anvil, base_params(3600, signer(backer).address())).await;
    life.deposit(depositor, "1").await;
    // A deposit right before the close: the layer may end before crediting it.
    let contract_arg = life.contract.to_string();
    run(Command::new(flashlayer_bin()).args([
        "bridge",
        "deposit",
        "--l1-rpc",
        &life.l1_rpc,
        "--contract",
        &contract_arg,
        "--private-key",
        late,
        "--amount",
        "0.5",
    ]));
    // Only the owner may close.
    let stranger = FlashLayer::new(life.contract, wallet(&life.l1_rpc, depositor));
    assert!(stranger.close().send().await.is_err());
    let owner = FlashLayer::new(life.contract, wallet(&life.l1_rpc, OWNER_KEY));
    let receipt = owner.close().send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    let closed_at = receipt.block_number.unwrap();

    life.wait_settled().await;
    let status = life.status(1).await;
    assert_eq!(status["lifecycle"]["phase"], "settled", "{status}");
    assert_eq!(status["lifecycle"]["closedAtL1Block"].as_u64(), Some(closed_at), "{status}");
    assert!(status["lifecycle"]["timeLeftSecs"].as_u64().unwrap() > 3000, "closed well before the deadline");
    let refused = http(&life.rpc(1))
        .send_raw_transaction(
            &flashlayer_tests::signed_transfer(&signer(depositor), 0, Address::repeat_byte(1), 1).1,
        )
        .await
        .expect_err("closed");
    assert!(refused.to_string().contains("layer closed"), "{refused}");
    let printed = run(Command::new(flashlayer_bin()).args(["status", "--rpc", &life.rpc(1)]));
    assert!(printed.contains("is settled"), "{printed}");

    let l1 = http(&life.l1_rpc);
    let before = l1.get_balance(signer(depositor).address()).await.unwrap();
    let out = life.claim(depositor, &["--rpc", &life.rpc(0)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        l1.get_balance(signer(depositor).address()).await.unwrap() > before + parse_ether("0.99").unwrap()
    );
    life.dispose_all(&life.dir.path().join("archive.jsonl"));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_refuses_bad_input_before_sending_anything() {
    let anvil = Anvil::start_l1().await;
    let dir = tempfile::tempdir().unwrap();
    let specs: Vec<String> = (0..4).map(|i| operator(dir.path(), i)).collect();
    let l1_rpc = anvil.rpc_url();
    let owner = signer(OWNER_KEY).address();
    let out = dir.path().join("layer.json");
    let out_arg = out.to_str().unwrap().to_string();
    let attempt = async |l1: &str, key: &str, extra: &[&str], sequencers: &[&str]| -> String {
        let mut args =
            vec!["create", "--l1-rpc", l1, "--owner-key", key, "--chain-id", "99", "--out", out_arg.as_str()];
        args.extend(extra);
        for s in sequencers {
            args.extend(["--sequencer", s]);
        }
        let nonce_before = http(&l1_rpc).get_transaction_count(owner).await.unwrap();
        let result = flashlayer(&args);
        assert!(!result.status.success(), "create {extra:?} succeeded");
        assert!(!out.exists(), "a failed create wrote {}", out.display());
        assert_eq!(
            http(&l1_rpc).get_transaction_count(owner).await.unwrap(),
            nonce_before,
            "a failed create sent an L1 transaction"
        );
        String::from_utf8_lossy(&result.stderr).to_string()
    };
    let all: Vec<&str> = specs.iter().map(String::as_str).collect();
    let e = attempt("http://127.0.0.1:1", OWNER_KEY, &["--duration", "60"], &all).await;
    assert!(e.contains("cannot reach the L1"), "{e}");
    let dup = [all[0], all[1], all[2], all[0]];
    let e = attempt(&l1_rpc, OWNER_KEY, &["--duration", "60"], &dup).await;
    assert!(e.contains("duplicate operator"), "{e}");
    let e = attempt(&l1_rpc, OWNER_KEY, &["--duration", "60", "--threshold", "2"], &all).await;
    assert!(e.contains("threshold of 2 is impossible for 4"), "{e}");
    let e = attempt(&l1_rpc, OWNER_KEY, &["--end-time", "1000"], &all).await;
    assert!(e.contains("in the past"), "{e}");
    let bad_key = format!("0x1234,{}", &all[0][all[0].find(',').unwrap() + 1..]);
    let e = attempt(&l1_rpc, OWNER_KEY, &["--duration", "60"], &[&bad_key, all[1], all[2], all[3]]).await;
    assert!(e.contains("not 32 bytes"), "{e}");
    let e = attempt(&l1_rpc, OWNER_KEY, &[], &all).await;
    assert!(e.contains("needs an end"), "{e}");
    // A public L1 (here anvil as chain 5) takes no layer without a challenge window.
    let public = Anvil::start_with(&["--chain-id", "5"]).await;
    let e =
        attempt(&public.rpc_url(), OWNER_KEY, &["--duration", "60", "--challenge-window", "0"], &all).await;
    assert!(e.contains("challenge window of 0 is for development L1s only"), "{e}");
    // An L2 with the L1's chain id would make its transactions valid on the L1.
    let mut same_chain = vec!["create", "--l1-rpc", &l1_rpc, "--owner-key", OWNER_KEY, "--chain-id", "31337"];
    same_chain.extend(["--duration", "60", "--out", out_arg.as_str()]);
    for spec in &all {
        same_chain.extend(["--sequencer", spec]);
    }
    let result = flashlayer(&same_chain);
    assert!(!result.status.success() && !out.exists(), "create with the L1's chain id succeeded");
    let e = String::from_utf8_lossy(&result.stderr);
    assert!(e.contains("chain id 31337 is the L1's"), "{e}");
    // An owner with no L1 ETH cannot lock the genesis backing.
    let poor = PrivateKeySigner::random();
    let poor_key = format!("0x{}", alloy::primitives::hex::encode(poor.to_bytes()));
    let params = dir.path().join("params.json");
    std::fs::write(&params, base_params(60, Address::repeat_byte(9)).to_string()).unwrap();
    let e = attempt(&l1_rpc, &poor_key, &["--params", params.to_str().unwrap()], &all).await;
    assert!(e.contains("holds 0 wei"), "{e}");

    // A key outside the set cannot start a validator.
    let good = run(Command::new(flashlayer_bin()).args([
        "create",
        "--l1-rpc",
        &l1_rpc,
        "--owner-key",
        OWNER_KEY,
        "--chain-id",
        "99",
        "--duration",
        "600",
        "--out",
        &out_arg,
        "--sequencer",
        all[0],
        "--sequencer",
        all[1],
        "--sequencer",
        all[2],
    ]));
    assert!(good.contains("created layer"), "{good}");
    let log = dir.path().join("node-3.log");
    let password = dir.path().join("password");
    let mut stranger = spawn_node_with(
        dir.path(),
        3,
        free_port(),
        free_port(),
        &log,
        &["--l1-rpc", &l1_rpc, "--password-file", password.to_str().unwrap()],
    );
    let status = stranger.wait().unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("not in the layer's sequencer set"), "{text}");
}

async fn sorted_signers(life: &Life) -> Vec<Address> {
    let mut signers = life.l1_contract().signers().call().await.unwrap();
    signers.sort();
    signers
}

fn status_keys(status: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = status["consensus"]["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_lowercase())
        .collect();
    keys.sort();
    keys
}

/// The `flash_status.sequencers` entry with consensus key `key` (lowercase hex).
fn sequencer_entry<'a>(status: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    status["sequencers"]
        .as_array()?
        .iter()
        .find(|s| s["consensusKey"].as_str().map(str::to_lowercase).as_deref() == Some(key))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_joins_and_another_leaves_while_batches_keep_landing() {
    let anvil = Anvil::start_l1().await;
    let [funder, _, backer] = USER_KEYS;
    let mut life = Life::start(&anvil, base_params(3600, signer(backer).address())).await;
    let original: Vec<(String, Address)> = {
        let layer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(life.layer_path()).unwrap()).unwrap();
        layer["sequencers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["consensus_key"].as_str().unwrap().to_lowercase(),
                    s["settlement_address"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    };
    let first_batches = wait_for("a first batch on L1", Duration::from_secs(60), async || {
        let n = life.l1_contract().lastBatchIndex().call().await.ok()?;
        (n >= 1).then_some(n)
    })
    .await;

    // A fifth operator: keys, L1 gas, a join request from its settlement address, the owner's
    // approval.
    let keys = life.dir.path().join("node-4/keys");
    let shown = run(Command::new(flashlayer_bin()).args(["keys", "generate", "--plain", "--dir"]).arg(&keys));
    let field = |label: &str| shown.lines().find_map(|l| l.strip_prefix(label)).unwrap().trim().to_string();
    let new_key = field("consensus key (ed25519):").to_lowercase();
    let new_address: Address = field("settlement address:").parse().unwrap();
    let fund = TransactionRequest::default().with_to(new_address).with_value(parse_ether("1").unwrap());
    wallet(&life.l1_rpc, funder).send_transaction(fund).await.unwrap().get_receipt().await.unwrap();
    let contract_arg = life.contract.to_string();
    let l1_arg = life.l1_rpc.clone();
    let keys_arg = keys.to_str().unwrap().to_string();
    let membership = |args: &[&str]| {
        let mut all = vec!["membership"];
        all.extend(args);
        all.extend(["--l1-rpc", l1_arg.as_str(), "--contract", contract_arg.as_str()]);
        flashlayer(&all)
    };
    let new_address_arg = new_address.to_string();
    // Approving what nobody asked for, or as someone else than the owner, is refused.
    let early = membership(&["approve", "--owner-key", OWNER_KEY, "--operator", &new_address_arg]);
    assert!(String::from_utf8_lossy(&early.stderr).contains("has not asked to join"), "{early:?}");
    let asked = membership(&["request-join", "--keys", &keys_arg]);
    assert!(asked.status.success(), "{}", String::from_utf8_lossy(&asked.stderr));
    let twice = membership(&["request-join", "--keys", &keys_arg]);
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("already has a join request pending"),
        "{twice:?}"
    );
    let stranger = membership(&["approve", "--owner-key", funder, "--operator", &new_address_arg]);
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("only the layer's owner"), "{stranger:?}");
    let approved = membership(&["approve", "--owner-key", OWNER_KEY, "--operator", &new_address_arg]);
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    // The change waits the membership delay (the 2 s challenge window) in the open: status shows
    // it and when it applies.
    let shown = wait_for("the pending join in flashlayer status", Duration::from_secs(20), async || {
        let printed = run(Command::new(flashlayer_bin()).args(["status", "--rpc", &life.rpc(0)]));
        let operator = new_address_arg.to_lowercase();
        printed
            .lines()
            .find(|l| l.contains("pending change") && l.to_lowercase().contains(&operator))
            .map(str::to_string)
    })
    .await;
    assert!(shown.contains("join of"), "{shown}");
    // Its node starts from the layer description, syncs and joins the set.
    let port = free_port();
    let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let log = life.dir.path().join("node-4/node.log");
    let child = spawn_node_with(
        life.dir.path(),
        4,
        port,
        free_port(),
        &log,
        &["--l1-rpc", &life.l1_rpc, "--p2p-addr", &p2p],
    );
    life.nodes.push(Some(child));
    life.rpc_ports.push(port);
    let log_text = life.log(4);
    wait_rpc(&life.rpc(4), life.nodes[4].as_mut().unwrap(), || log_text.clone()).await;
    let mut expected_keys: Vec<String> =
        original.iter().map(|(k, _)| k.clone()).chain([new_key.clone()]).collect();
    expected_keys.sort();
    let mut expected_signers: Vec<Address> = original.iter().map(|(_, a)| *a).chain([new_address]).collect();
    expected_signers.sort();
    wait_for("the fifth operator in both sets", Duration::from_secs(90), async || {
        let status = life.status(0).await;
        (status_keys(&status) == expected_keys && sorted_signers(&life).await == expected_signers)
            .then_some(())
    })
    .await;
    // It votes and signs: it submits a batch in its turn.
    wait_for("a batch submitted by the fifth operator", Duration::from_secs(90), async || {
        let status = life.status(4).await;
        status["settlement"]["lastSubmittedBatch"].as_u64()
    })
    .await;
    // An original operator's node lists it in the sequencer set (what the live page shows), with
    // its settlement address, its votes and the batch signatures it checked from it.
    wait_for(
        "the fifth operator's votes and signatures in flash_status",
        Duration::from_secs(60),
        async || {
            let status = life.status(0).await;
            let sequencers = status["sequencers"].as_array()?;
            let joined = sequencer_entry(&status, &new_key)?;
            assert_eq!(sequencers.len(), 5, "{sequencers:?}");
            assert_eq!(
                joined["settlementAddress"].as_str()?.parse::<Address>().ok()?,
                new_address,
                "{joined}"
            );
            assert_eq!(joined["member"], true, "{joined}");
            (joined["lastVote"]["block"].is_u64() && joined["lastBatchSignature"]["batch"].is_u64())
                .then_some(())
        },
    )
    .await;

    // One of the original operators leaves (announced by the owner).
    let (leaving_key, leaving) = original[1].clone();
    let left = membership(&["leave", "--private-key", OWNER_KEY, "--operator", &leaving.to_string()]);
    assert!(left.status.success(), "{}", String::from_utf8_lossy(&left.stderr));
    expected_keys.retain(|k| *k != leaving_key);
    expected_signers.retain(|a| *a != leaving);
    wait_for("the operator out of both sets", Duration::from_secs(90), async || {
        let status = life.status(0).await;
        (status_keys(&status) == expected_keys && sorted_signers(&life).await == expected_signers)
            .then_some(())
    })
    .await;
    // The set lists it still, as no longer a member; the others are.
    let status = life.status(0).await;
    assert_eq!(status["sequencers"].as_array().unwrap().len(), 5, "{status}");
    assert_eq!(sequencer_entry(&status, &leaving_key).unwrap()["member"], false, "{status}");
    for key in &expected_keys {
        assert_eq!(sequencer_entry(&status, key).unwrap()["member"], true, "{key}: {status}");
    }
    let after_leave = life.l1_contract().lastBatchIndex().call().await.unwrap();
    wait_for("batches landing after the change", Duration::from_secs(60), async || {
        (life.l1_contract().lastBatchIndex().call().await.ok()? >= after_leave + 3).then_some(())
    })
    .await;
    // The cluster's view of the signer set is the contract's.
    let status = life.status(4).await;
    let mut cluster: Vec<Address> = status["settlement"]["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect();
    cluster.sort();
    assert_eq!(cluster, sorted_signers(&life).await);
    assert!(life.l1_contract().lastBatchIndex().call().await.unwrap() > first_batches + 3);
}
