//! The Solidity test suite, run with forge (installed by scripts/setup, compiling offline with
//! solc-js), so that `scripts/test` fails when a contract test fails or the checked-in artifacts
//! drift from the sources.

use flashlayer_tests::{repo_root, tool};
use std::process::Command;

/// `forge test` in contracts/ passes.
#[test]
fn forge_tests_pass() {
    tool("forge");
    let out = Command::new(repo_root().join("scripts/forge-test"))
        .env("FLASHLAYER_SKIP_SETUP", "1")
        .output()
        .expect("running scripts/forge-test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "forge test failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // forge's summary line: "... N tests passed, 0 failed, 0 skipped (N total tests)".
    let passed: u64 = stdout
        .split(" tests passed")
        .next()
        .and_then(|head| head.rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed > 0, "forge ran no test:\n{stdout}");
}

/// The artifacts checked in under contracts/artifacts (which the node embeds through alloy's
/// `sol!`) are what the sources compile to: `scripts/contract-artifacts --check` builds afresh
/// and compares.
#[test]
fn checked_in_artifacts_match_the_sources() {
    tool("forge");
    let out = Command::new(repo_root().join("scripts/contract-artifacts"))
        .arg("--check")
        .env("FLASHLAYER_SKIP_SETUP", "1")
        .output()
        .expect("running scripts/contract-artifacts --check");
    assert!(
        out.status.success(),
        "contract artifacts are stale (run scripts/contract-artifacts and commit contracts/artifacts):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
