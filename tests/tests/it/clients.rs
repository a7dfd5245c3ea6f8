//! The client libraries dApp teams use, from the npm and Python registries (installed by
//! `scripts/setup`), driven against a 4-node `flashlayer devnet` and, with the same scripts,
//! against anvil: viem and ethers v6 over HTTP and WebSocket, and web3.py. Passing against
//! anvil shows the scripts (`tests/clients/`) ask only for standard Ethereum behaviour;
//! passing against the layer shows the layer gives it. Then the layer's own live page, in a
//! headless browser.

use flashlayer_tests::{cast, flashlayer_bin, output, repo_root, tool};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Where a client script runs: a node's HTTP and WebSocket URLs and a funded key.
struct Endpoint {
    http: String,
    ws: String,
    key: String,
}

/// forge's output directory, built (TestToken, Tally) if it is not already.
fn artifacts() -> PathBuf {
    let contracts = repo_root().join("contracts");
    let out = output(Command::new(tool("forge")).current_dir(&contracts).arg("build"));
    assert!(out.status.success(), "forge build failed: {}", String::from_utf8_lossy(&out.stderr));
    contracts.join("out")
}

/// Runs one client script against `at`; panics with its output unless every check passed.
fn run_client(client: &str, at: &Endpoint, artifacts: &Path) {
    let tools = repo_root().join(".tools");
    let script = repo_root().join("tests/clients").join(client);
    let mut cmd = if client.ends_with(".py") {
        let python = tools.join("python");
        assert!(
            python.join("web3").exists(),
            "web3.py not found in {}: run scripts/setup first",
            python.display()
        );
        let mut cmd = Command::new("python3");
        cmd.env("PYTHONPATH", python);
        cmd
    } else {
        let modules = tools.join("node_modules");
        assert!(
            modules.join("viem").exists(),
            "viem not found in {}: run scripts/setup first",
            modules.display()
        );
        let mut cmd = Command::new("node");
        cmd.env("NODE_PATH", modules);
        cmd
    };
    cmd.arg(&script)
        .env("FL_HTTP", &at.http)
        .env("FL_WS", &at.ws)
        .env("FL_KEY", &at.key)
        .env("FL_ARTIFACTS", artifacts);
    let out = output(&mut cmd);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("--- {client} against {} ---\n{text}", at.http);
    assert!(
        out.status.success() && text.contains("all checks passed"),
        "{client} against {}:\n{text}",
        at.http
    );
}

const CLIENTS: [&str; 3] = ["viem.cjs", "ethers.cjs", "web3py.py"];

/// `flashlayer devnet` with 4 nodes, stopped (SIGTERM) on drop.
struct Devnet {
    child: Child,
    _dir: tempfile::TempDir,
    info: serde_json::Value,
}

impl Devnet {
    async fn start(nodes: usize) -> Self {
        Self::start_with(nodes, &[]).await
    }

    /// A devnet with `extra` flags.
    async fn start_with(nodes: usize, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(flashlayer_bin())
            .args(["devnet", "--nodes", &nodes.to_string(), "--anvil"])
            .arg(tool("anvil"))
            .args(extra)
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn devnet");
        let path = dir.path().join("devnet.json");
        let deadline = Instant::now() + Duration::from_secs(120);
        let info = loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                break serde_json::from_str(&text).expect("devnet.json parses");
            }
            assert!(Instant::now() < deadline, "devnet.json not written within 120 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Self { child, _dir: dir, info }
    }

    /// Node `node`'s endpoints with funded account `account`.
    fn endpoint(&self, node: usize, account: usize) -> Endpoint {
        let n = &self.info["nodes"][node];
        Endpoint {
            http: n["rpc"].as_str().expect("rpc").into(),
            ws: n["ws"].as_str().expect("ws").into(),
            key: self.info["accounts"][account]["private_key"].as_str().expect("private_key").into(),
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// viem, ethers and web3.py each against a different node of a 4-node devnet, each with its
/// own funded account.
#[tokio::test(flavor = "multi_thread")]
async fn viem_ethers_and_web3py_work_against_a_4_node_devnet() {
    let artifacts = artifacts();
    let devnet = Devnet::start(4).await;
    assert_eq!(devnet.info["nodes"].as_array().unwrap().len(), 4);
    for (i, client) in CLIENTS.iter().enumerate() {
        run_client(client, &devnet.endpoint(i, i), &artifacts);
    }
}

/// The same scripts against anvil: they ask for nothing a standard node does not give.
#[tokio::test(flavor = "multi_thread")]
async fn the_client_scripts_pass_against_anvil() {
    let artifacts = artifacts();
    // anvil mines on demand: blocks come from the scripts' own transactions.
    let anvil = flashlayer_tests::Anvil::start().await;
    // A fresh key per client, funded with anvil_setBalance (10,000 ETH).
    let keys = CLIENTS.map(|_| {
        let key = alloy::signers::local::PrivateKeySigner::random();
        cast(&[
            "rpc",
            "--rpc-url",
            &anvil.rpc_url(),
            "anvil_setBalance",
            &key.address().to_string(),
            "0x21e19e0c9bab2400000",
        ]);
        format!("0x{}", hex::encode(key.to_bytes()))
    });
    for (client, key) in CLIENTS.iter().zip(keys) {
        let at = Endpoint { http: anvil.rpc_url(), ws: anvil.rpc_url().replace("http://", "ws://"), key };
        run_client(client, &at, &artifacts);
    }
}

/// The live page every node serves, in a real headless browser (Debian's chromium through
/// playwright-core): it loads, its charts draw, a transaction sent during the test shows in its
/// explorer with its status and call trace, and its RPC refuses writes. Then settlement: each
/// operator's last vote and batch signature, the batches on L1 linked to the explorer, and
/// once the owner closes the layer the final batch and a claim.
#[tokio::test(flavor = "multi_thread")]
async fn the_live_page_draws_and_finds_a_transaction_in_a_browser() {
    let chromium = std::env::var("FL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} not found: run scripts/setup first (it installs chromium)"
    );
    // No explorer serves anvil: the links are checked by their form and their transactions.
    let explorer = "http://l1-explorer.test";
    let devnet = Devnet::start_with(4, &["--l1-explorer", explorer]).await;
    let node = &devnet.info["nodes"][1];
    let page = node["metrics"].as_str().expect("metrics").trim_end_matches("metrics").to_string();
    let at = devnet.endpoint(1, 3);
    let modules = repo_root().join(".tools/node_modules");
    assert!(
        modules.join("playwright-core").exists(),
        "playwright-core not found in {}: run scripts/setup first",
        modules.display()
    );
    let out = output(
        Command::new("node")
            .arg(repo_root().join("tests/clients/live.cjs"))
            .env("NODE_PATH", modules)
            .env("FL_PAGE", &page)
            .env("FL_HTTP", &at.http)
            .env("FL_KEY", &at.key)
            .env("FL_CHROMIUM", &chromium)
            .env("FL_L1", devnet.info["l1"]["rpc"].as_str().expect("l1 rpc"))
            .env("FL_CONTRACT", devnet.info["l1"]["layer_contract"].as_str().expect("layer contract"))
            .env("FL_EXPLORER", explorer)
            .env("FL_OWNER_KEY", devnet.info["accounts"][0]["private_key"].as_str().expect("owner key"))
            .env("FL_BIN", flashlayer_bin())
            .env("FL_DEADLINE_SECS", "360"),
    );
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("--- live page at {page} ---\n{text}");
    assert!(out.status.success() && text.contains("all checks passed"), "the live page at {page}:\n{text}");
}
