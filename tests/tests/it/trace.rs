//! `debug_trace*` and `cast run` against a layer, compared with anvil running the very same
//! transactions (same sender, nonces, gas limits and hardfork, so the same contract addresses
//! and gas): an ERC-20 transfer, a nested call, and a nested call whose revert bubbles up.

use flashlayer_tests::{Anvil, TestNode, cast, forge_create, output, tool};
use serde_json::{Value, json};
use std::process::Command;

/// Gas limit of every traced transaction, the same on both chains.
const GAS: &str = "300000";

/// `cast rpc --raw` of `method` with `params`.
fn cast_rpc(url: &str, method: &str, params: &Value) -> std::process::Output {
    output(Command::new(tool("cast")).args(["rpc", "--rpc-url", url, "--raw", method, &params.to_string()]))
}

fn rpc(url: &str, method: &str, params: Value) -> Value {
    let out = cast_rpc(url, method, &params);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{method} {params} on {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method}: not JSON ({e}): {text}"))
}

/// The JSON-RPC error a call gets, as `cast rpc` prints it.
fn rpc_error(url: &str, method: &str, params: Value) -> String {
    let out = cast_rpc(url, method, &params);
    assert!(!out.status.success(), "{method} {params} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `cast send` with the fixed gas limit; returns the transaction hash (a revert is mined too).
fn send(url: &str, key: &str, to: &str, sig: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(tool("cast"));
    cmd.args(["send", "--rpc-url", url, "--private-key", key, "--gas-limit", GAS, "--json", to, sig])
        .args(args);
    let out = output(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let receipt: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("cast send {sig}: {text}{}", String::from_utf8_lossy(&out.stderr)));
    receipt["transactionHash"].as_str().expect("transactionHash").to_string()
}

/// One chain's run of the scenario: the contracts and the three transactions.
struct Run {
    url: String,
    token: String,
    transfer: String,
    relay: String,
    reverted: String,
}

fn scenario(url: &str, key: &str) -> Run {
    let token = forge_create(
        url,
        key,
        "src/test/TestToken.sol:TestToken",
        &["Flash", "FL", "1000000000000000000000"],
    )
    .to_string();
    let first = forge_create(url, key, "src/test/Tally.sol:Tally", &[]).to_string();
    let second = forge_create(url, key, "src/test/Tally.sol:Tally", &[]).to_string();
    let recipient = "0x000000000000000000000000000000000000bEEF";
    Run {
        url: url.into(),
        transfer: send(url, key, &token, "transfer(address,uint256)", &[recipient, "250"]),
        relay: send(url, key, &first, "relay(address,uint256)", &[&second, "3"]),
        reverted: send(url, key, &first, "relay(address,uint256)", &[&second, "0"]),
        token,
    }
}

/// `cast run`'s call tree: the lines between "Traces:" and the result line.
fn cast_run_trace(url: &str, tx: &str) -> String {
    let out = output(Command::new(tool("cast")).args(["run", "--rpc-url", url, tx]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "cast run {tx} on {url}: {text}{}", String::from_utf8_lossy(&out.stderr));
    let start = text.find("Traces:").unwrap_or_else(|| panic!("no Traces in cast run output:\n{text}"));
    let trace: Vec<&str> = text[start..].lines().take_while(|l| !l.starts_with("Transaction ")).collect();
    trace.join("\n").trim().to_string()
}

/// The prestate tracer's accounts with what must agree across chains: code, nonce and
/// storage (balances differ: each chain's base fee and funding differ), leaving out the block's
/// fee recipient, which differs by chain.
fn prestate_shape(frame: &Value, coinbase: &str) -> Value {
    let accounts = frame.as_object().expect("prestate object");
    Value::Object(
        accounts
            .iter()
            .filter(|(address, _)| !address.eq_ignore_ascii_case(coinbase))
            .map(|(address, account)| {
                (
                    address.to_lowercase(),
                    json!({ "code": account["code"], "nonce": account["nonce"], "storage": account["storage"] }),
                )
            })
            .collect(),
    )
}

fn coinbase(url: &str, tx: &str) -> String {
    let receipt = rpc(url, "eth_getTransactionReceipt", json!([tx]));
    let block = rpc(url, "eth_getBlockByHash", json!([receipt["blockHash"], false]));
    block["miner"].as_str().unwrap().to_string()
}

/// callTracer, the default struct logger and prestateTracer give the same traces on a layer
/// as on anvil for the same transactions; `cast run` prints the same call trees.
#[tokio::test(flavor = "multi_thread")]
async fn traces_and_cast_run_match_anvil() {
    let node = TestNode::start().await;
    let account = &node.accounts()[0];
    // The same sender with the same nonces on anvil, on the layer's hardfork.
    // `--steps-tracing`: anvil records struct logs only when asked to.
    let anvil = Anvil::start_with(&["--hardfork", "osaka", "--steps-tracing"]).await;
    cast(&[
        "rpc",
        "--rpc-url",
        &anvil.rpc_url(),
        "anvil_setBalance",
        &account.address.to_string(),
        "0x56bc75e2d63100000",
    ]);

    let layer = scenario(&node.rpc_url(), &account.private_key);
    let reference = scenario(&anvil.rpc_url(), &account.private_key);
    assert_eq!(layer.token, reference.token, "same sender and nonces give the same addresses");

    for (what, ours, theirs) in [
        ("ERC-20 transfer", &layer.transfer, &reference.transfer),
        ("nested call", &layer.relay, &reference.relay),
        ("bubbling revert", &layer.reverted, &reference.reverted),
    ] {
        let call = json!({ "tracer": "callTracer", "tracerConfig": { "withLog": true } });
        let mut a = rpc(&layer.url, "debug_traceTransaction", json!([ours, call]));
        let mut b = rpc(&reference.url, "debug_traceTransaction", json!([theirs, call]));
        // The top frame's gas is the transaction's gas limit in geth's callTracer (and reth's);
        // anvil gives what is left after the intrinsic gas. Every other field must agree.
        assert_eq!(
            a["gas"],
            format!("{:#x}", GAS.parse::<u64>().unwrap()),
            "{what}: top frame gas as geth's"
        );
        a["gas"].take();
        b["gas"].take();
        assert_eq!(a, b, "{what}: callTracer differs from anvil's");

        let a = rpc(&layer.url, "debug_traceTransaction", json!([ours, {}]));
        let b = rpc(&reference.url, "debug_traceTransaction", json!([theirs, {}]));
        assert!(!a["structLogs"].as_array().unwrap().is_empty(), "{what}: struct logs recorded");
        assert_eq!(a, b, "{what}: struct logs differ from anvil's");

        let pre = json!({ "tracer": "prestateTracer" });
        let a = rpc(&layer.url, "debug_traceTransaction", json!([ours, pre]));
        let b = rpc(&reference.url, "debug_traceTransaction", json!([theirs, pre]));
        assert_eq!(
            prestate_shape(&a, &coinbase(&layer.url, ours)),
            prestate_shape(&b, &coinbase(&reference.url, theirs)),
            "{what}: prestate differs from anvil's"
        );

        let ours_run = cast_run_trace(&layer.url, ours);
        let theirs_run = cast_run_trace(&reference.url, theirs);
        println!("cast run, {what}:\n{ours_run}");
        assert_eq!(ours_run, theirs_run, "{what}: cast run prints another call tree than against anvil");
    }
    let reverted =
        rpc(&layer.url, "debug_traceTransaction", json!([layer.reverted, { "tracer": "callTracer" }]));
    assert_eq!(reverted["error"], "execution reverted");
    assert_eq!(reverted["calls"][0]["revertReason"], "Tally: nothing to count");

    // debug_traceCall: a call that reverts, traced on the latest state.
    let first = &reverted["to"];
    let calldata = cast(&["calldata", "count(uint256)", "0"]);
    let traced = rpc(
        &layer.url,
        "debug_traceCall",
        json!([{ "from": account.address, "to": first, "data": calldata }, "latest", { "tracer": "callTracer" }]),
    );
    assert_eq!(traced["revertReason"], "Tally: nothing to count", "{traced}");

    // debug_traceBlockByNumber: one result per transaction of the block, in order.
    let receipt = rpc(&layer.url, "eth_getTransactionReceipt", json!([layer.transfer]));
    let block = rpc(&layer.url, "eth_getBlockByNumber", json!([receipt["blockNumber"], false]));
    let traces = rpc(
        &layer.url,
        "debug_traceBlockByNumber",
        json!([receipt["blockNumber"], { "tracer": "callTracer" }]),
    );
    let hashes: Vec<&Value> = traces.as_array().unwrap().iter().map(|t| &t["txHash"]).collect();
    let in_block: Vec<&Value> = block["transactions"].as_array().unwrap().iter().collect();
    assert_eq!(hashes, in_block);
    assert!(
        traces
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["result"]["type"] == "CALL" || t["result"]["type"] == "CREATE")
    );
}

/// Tracing is bounded: a request past its timeout gets geth's "execution timeout", one that
/// would outgrow the largest answer is stopped, and the node goes on serving; tracers it does
/// not run are refused with invalid params, as are options it does not take.
#[tokio::test(flavor = "multi_thread")]
async fn a_trace_stops_at_its_timeout_and_unknown_tracers_are_refused() {
    let node = TestNode::start().await;
    let url = node.rpc_url();
    let account = &node.accounts()[0];
    // A contract whose code loops until its gas runs out: JUMPDEST PUSH1 0 JUMP.
    let out = output(Command::new(tool("cast")).args([
        "send",
        "--rpc-url",
        &url,
        "--private-key",
        &account.private_key,
        "--json",
        "--create",
        "0x6004600c60003960046000f35b600056",
    ]));
    let receipt: Value = serde_json::from_slice(&out.stdout).expect("receipt");
    let looper = receipt["contractAddress"].as_str().expect("contractAddress").to_string();

    // The loop under the call tracer (no steps recorded) for as much gas as a call may have:
    // millions of steps, stopped by a 10 ms deadline.
    let call = json!({ "from": account.address, "to": looper, "gas": "0x1c9c380" });
    let error = rpc_error(
        &url,
        "debug_traceCall",
        json!([call, "latest", { "tracer": "callTracer", "timeout": "10ms" }]),
    );
    assert!(error.contains("execution timeout"), "{error}");
    // Under the struct logger with time to spare, the trace outgrows the largest answer first.
    let error = rpc_error(&url, "debug_traceCall", json!([call, "latest", { "timeout": "20s" }]));
    assert!(error.contains("larger than 64 MiB"), "{error}");
    // The node still answers, and a trace with room to finish does finish.
    assert!(cast(&["block-number", "--rpc-url", &url]).parse::<u64>().unwrap() > 0);
    let small = json!({ "from": account.address, "to": looper, "gas": "0x10000" });
    let trace = rpc(&url, "debug_traceCall", json!([small, "latest", { "tracer": "callTracer" }]));
    assert_eq!(trace["error"], "out of gas", "{trace}");

    for (tracer, expect) in
        [("4byteTracer", "4byteTracer is not supported"), ("{ result: function() {} }", "not supported")]
    {
        let error = rpc_error(&url, "debug_traceCall", json!([small, "latest", { "tracer": tracer }]));
        assert!(error.contains(expect) && error.contains("-32602"), "{tracer}: {error}");
    }
    let error = rpc_error(&url, "debug_traceCall", json!([small, "latest", { "timeout": "soon" }]));
    assert!(error.contains("not a duration"), "{error}");
    let error = rpc_error(&url, "debug_traceCall", json!([small, "latest", { "txIndex": "0x0" }]));
    assert!(error.contains("txIndex") && error.contains("-32602"), "{error}");
    let error = rpc_error(&url, "debug_traceTransaction", json!([format!("0x{}", "ab".repeat(32)), {}]));
    assert!(error.contains("transaction not found"), "{error}");
    let error = rpc_error(&url, "debug_traceBlockByNumber", json!(["0x0", {}]));
    assert!(error.contains("genesis is not traceable"), "{error}");
}
