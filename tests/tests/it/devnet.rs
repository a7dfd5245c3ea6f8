//! `flashlayer devnet`: the contract scripts and tests rely on (design section 8), and a
//! clean stop and resume.

use alloy::{
    eips::BlockNumberOrTag,
    providers::{Provider, ProviderBuilder},
};
use flashlayer_tests::{cast, flashlayer_bin, tool};
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn start(dir: &std::path::Path) -> Child {
    Command::new(flashlayer_bin())
        .args(["devnet", "--nodes", "1", "--anvil"])
        .arg(tool("anvil"))
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn devnet")
}

async fn wait_info(dir: &std::path::Path) -> serde_json::Value {
    let path = dir.join("devnet.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text).expect("devnet.json parses");
        }
        assert!(Instant::now() < deadline, "devnet.json not written within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn terminate(child: &mut Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait devnet");
    assert!(status.success(), "devnet did not exit cleanly: {status}");
}

/// devnet.json appears once the node serves RPC, lists node URLs, pid, datadir, ten funded
/// accounts and the anvil L1 with the layer contract; SIGTERM stops everything and removes it;
/// a second start on the same directory resumes the same chain, on the same L1 contract.
#[tokio::test(flavor = "multi_thread")]
async fn devnet_writes_its_description_stops_cleanly_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = start(dir.path());
    let info = wait_info(dir.path()).await;
    assert_eq!(info["chain_id"], 13370);
    let node = &info["nodes"][0];
    let rpc = node["rpc"].as_str().unwrap().to_string();
    assert!(node["ws"].as_str().unwrap().starts_with("ws://127.0.0.1:"));
    assert!(node["metrics"].as_str().unwrap().ends_with("/metrics"));
    assert!(node["pid"].as_u64().unwrap() > 0);
    assert!(std::path::Path::new(node["datadir"].as_str().unwrap()).exists());
    let accounts = info["accounts"].as_array().unwrap();
    assert!(accounts.len() >= 10);
    let funded = accounts[9]["address"].as_str().unwrap();
    assert_ne!(cast(&["balance", "--rpc-url", &rpc, funded]), "0");
    let l1_rpc = info["l1"]["rpc"].as_str().expect("l1.rpc").to_string();
    let contract = info["l1"]["layer_contract"].as_str().expect("l1.layer_contract").to_string();
    assert!(info["l1"]["chain_id"].as_u64().unwrap() > 0);
    assert_ne!(cast(&["code", "--rpc-url", &l1_rpc, &contract]), "0x");

    // Move the chain on, remember it, stop.
    let key = accounts[0]["private_key"].as_str().unwrap();
    let sent: serde_json::Value = serde_json::from_str(&cast(&[
        "send",
        "--rpc-url",
        &rpc,
        "--private-key",
        key,
        funded,
        "--value",
        "1",
        "--json",
    ]))
    .unwrap();
    let number =
        u64::from_str_radix(sent["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let provider = ProviderBuilder::new().connect_http(rpc.parse().unwrap());
    let block = provider.get_block_by_number(BlockNumberOrTag::Number(number)).await.unwrap().unwrap();
    terminate(&mut devnet);
    assert!(!dir.path().join("devnet.json").exists(), "devnet.json removed on stop");

    // Resume: same chain, same block, the nonce kept.
    let mut devnet = start(dir.path());
    let info = wait_info(dir.path()).await;
    let rpc = info["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let provider = ProviderBuilder::new().connect_http(rpc.parse().unwrap());
    let again = provider.get_block_by_number(BlockNumberOrTag::Number(number)).await.unwrap().unwrap();
    assert_eq!(again.header.hash, block.header.hash);
    assert_eq!(cast(&["nonce", "--rpc-url", &rpc, accounts[0]["address"].as_str().unwrap()]), "1");
    // The L1 came back with its state: the same contract, still deployed.
    assert_eq!(info["l1"]["layer_contract"].as_str().unwrap(), contract);
    let l1_rpc = info["l1"]["rpc"].as_str().unwrap().to_string();
    assert_ne!(cast(&["code", "--rpc-url", &l1_rpc, &contract]), "0x");
    terminate(&mut devnet);
}
