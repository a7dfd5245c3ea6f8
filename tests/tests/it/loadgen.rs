//! What a load tester does: `flashlayer loadgen` against a cluster (every workload kind and the
//! adversarial mix) and against anvil, with the report's counts checked against the chain.

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    sol,
};
use flashlayer_loadgen::Report;
use flashlayer_tests::{Anvil, Cluster, flashlayer_bin, run};
use std::{collections::HashSet, process::Command};

sol! {
    #[sol(rpc)]
    interface ILoadNft {
        function totalSupply() external view returns (uint256);
    }
}

fn loadgen(urls: &[String], args: &[&str], out: &std::path::Path) -> (Report, String) {
    let stdout = run(Command::new(flashlayer_bin())
        .arg("loadgen")
        .args(["--rpc", &urls.join(",")])
        .args(args)
        .arg("--out")
        .arg(out));
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report.json"))
            .expect("report");
    let page = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(page.contains("<svg") && page.contains("<polyline"), "report.html has no chart");
    (report, stdout)
}

/// Every sender's nonce on chain is its nonce before the run plus its included transactions,
/// and the blocks the run spanned hold exactly the included transactions of the run.
async fn check_against_chain(provider: &DynProvider, report: &Report) {
    let mut total = 0;
    for account in &report.accounts {
        let nonce = provider.get_transaction_count(account.address).await.unwrap();
        assert_eq!(nonce, account.first_nonce + account.included, "nonce of {}", account.address);
        total += account.included;
    }
    assert_eq!(total, report.honest.included, "per-sender inclusions add up to the total");
    let senders: HashSet<Address> = report.accounts.iter().map(|a| a.address).collect();
    let mut from_senders = 0;
    for number in report.blocks.first..=report.blocks.last {
        let block =
            provider.get_block_by_number(BlockNumberOrTag::Number(number)).full().await.unwrap().unwrap();
        from_senders +=
            block.transactions.txns().filter(|tx| senders.contains(&tx.inner.signer())).count() as u64;
    }
    assert_eq!(from_senders, report.honest.included, "the run's blocks hold what the report counts");
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_mix_with_adversaries_over_a_cluster_matches_the_chain() {
    let cluster = Cluster::start(4).await;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.rpc_url()).collect();
    let out = cluster.dir.path().join("loadgen");
    let (report, stdout) = loadgen(
        &urls,
        &["--workload", "mix", "--rate", "300", "--duration", "4", "--senders", "24", "--adversarial", "0.1"],
        &out,
    );
    assert!(stdout.contains("submit-to-inclusion latency"), "{stdout}");
    let honest = &report.honest;
    assert!(honest.submitted > 600, "sent {} of ~1200 in 4 s at 300/s", honest.submitted);
    assert_eq!(honest.rejected, 0, "honest refusals: {:?}", honest.rejected_by_error);
    assert_eq!(honest.accepted, honest.submitted);
    assert_eq!(honest.included, honest.accepted, "every accepted transaction is included");
    assert_eq!(honest.not_included, 0);
    assert_eq!(report.latency_ms.samples, honest.included);
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.p99);
    assert_eq!(report.timeline.iter().map(|s| s.included).sum::<u64>(), honest.included);

    let provider = cluster.nodes[0].provider();
    check_against_chain(&provider, &report).await;
    // Mints are every 10th honest transaction of a mix, and the run's are a prefix of them.
    let nft = ILoadNft::new(report.contracts["LoadNft"], &provider);
    let mints = (0..honest.included).filter(|k| k % 10 == 9).count();
    assert_eq!(nft.totalSupply().call().await.unwrap(), U256::from(mints));

    // Adversarial transactions: each kind present, refused with geth's words (nonce gaps may
    // be queued), and none ever included.
    for kind in ["invalid_signature", "nonce_gap", "oversized", "underpriced"] {
        let counts =
            report.adversarial.get(kind).unwrap_or_else(|| panic!("no {kind} in {:?}", report.adversarial));
        assert!(counts.submitted > 0, "{kind} sent");
        assert_eq!(counts.included, 0, "{kind} included");
        assert_eq!(counts.accepted + counts.rejected, counts.submitted, "{kind} answered");
    }
    let refused = |kind: &str, message: &str| {
        let c = &report.adversarial[kind];
        assert_eq!(c.rejected, c.submitted, "{kind} all refused: {c:?}");
        assert!(c.rejected_by_error.contains_key(message), "{kind}: {:?}", c.rejected_by_error);
    };
    refused("invalid_signature", "invalid sender");
    refused("oversized", "oversized data");
    refused("underpriced", "max fee per gas less than block base fee");
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_erc20_against_anvil_matches_the_chain() {
    let anvil = Anvil::start_with(&["--block-time", "1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = loadgen(
        &[anvil.rpc_url()],
        &["--workload", "erc20", "--count", "600", "--senders", "12", "--batch-size", "50"],
        &dir.path().join("report"),
    );
    assert_eq!(report.honest.submitted, 600);
    assert_eq!(report.honest.included, 600, "{:?}", report.honest);
    assert!(report.contracts.contains_key("LoadToken"));
    let provider =
        alloy::providers::ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap()).erased();
    check_against_chain(&provider, &report).await;
}
