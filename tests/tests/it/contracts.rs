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

/// The account proofs the forge escape tests prove against (`contracts/test/fixtures/escape.json`)
/// are what alloy-trie (the trie library the node's `eth_getProof` builds on) makes for two
/// states: a good one and a bad one a lying quorum might sign, where alice holds 1,000 ETH more.
/// Set `FLASHLAYER_UPDATE_FIXTURES=1` to rewrite the file after changing the states below.
#[test]
fn escape_proof_fixture_is_current() {
    let path = repo_root().join("contracts/test/fixtures/escape.json");
    let fixture = escape_fixture::build();
    if std::env::var_os("FLASHLAYER_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fixture).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == fixture,
        "{} is stale: run FLASHLAYER_UPDATE_FIXTURES=1 cargo nextest run -E 'test(escape_proof_fixture)'",
        path.display()
    );
}

mod escape_fixture {
    use alloy::{
        primitives::{Address, B256, Bytes, U256, keccak256},
        sol_types::SolValue,
    };
    use alloy_trie::{
        EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, Nibbles, TrieAccount,
        proof::{ProofNodes, ProofRetainer},
    };
    use flashlayer_execution::messages::L2_MESSAGE_PASSER;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn named(name: &str) -> Address {
        Address::from_word(keccak256(name.as_bytes()))
    }

    /// A trie over `leaves` (hashed key -> RLP value) with the proofs of `targets`.
    fn trie(leaves: &BTreeMap<B256, Vec<u8>>, targets: &[B256]) -> (B256, ProofNodes) {
        let retainer = ProofRetainer::new(targets.iter().map(|k| Nibbles::unpack(k)).collect());
        let mut builder = HashBuilder::default().with_proof_retainer(retainer);
        for (key, value) in leaves {
            builder.add_leaf(Nibbles::unpack(key), value);
        }
        let root = builder.root();
        (root, builder.take_proof_nodes())
    }

    fn proof(nodes: &ProofNodes, key: &B256) -> Vec<Bytes> {
        nodes.matching_nodes_sorted(&Nibbles::unpack(key)).into_iter().map(|(_, node)| node).collect()
    }

    /// The slot of `L2MessagePasser.claimRecipientOf[keccak256(account)]` (mapping at slot 1).
    fn recipient_slot(account: Address) -> B256 {
        keccak256((keccak256(account), U256::from(1)).abi_encode())
    }

    /// One state: 300 funded EOAs (so proofs are as deep as a busy layer's), alice, a
    /// zero-balance account that has sent transactions, a contract that named an L1 recipient,
    /// a contract that named none, and the L2MessagePasser holding withdrawn ETH.
    fn state(alice_balance: U256) -> (B256, Value) {
        let alice = named("alice");
        let zero = named("zero");
        let absent = named("absent");
        let vault = named("vault");
        let orphan = named("orphan");
        let vault_recipient = named("vault's L1 treasury");
        let code_hash = keccak256(b"some contract code");
        let mut accounts: BTreeMap<Address, TrieAccount> = BTreeMap::new();
        for i in 0..300u64 {
            accounts.insert(
                named(&format!("user {i}")),
                TrieAccount {
                    nonce: i % 7,
                    balance: U256::from(1_000_000_000u64 * (i + 1)),
                    ..Default::default()
                },
            );
        }
        let eth = U256::from(10).pow(U256::from(18));
        accounts.insert(alice, TrieAccount { nonce: 3, balance: alice_balance, ..Default::default() });
        accounts.insert(zero, TrieAccount { nonce: 5, balance: U256::ZERO, ..Default::default() });
        for contract in [vault, orphan] {
            accounts.insert(
                contract,
                TrieAccount { nonce: 1, balance: U256::from(7) * eth, code_hash, ..Default::default() },
            );
        }
        // The passer's storage: the message nonce, and the vault's named recipient.
        let mut storage = BTreeMap::new();
        storage.insert(keccak256(B256::ZERO), alloy::rlp::encode(U256::from(42)));
        let slot_key = keccak256(recipient_slot(vault));
        storage.insert(slot_key, alloy::rlp::encode(U256::from_be_slice(vault_recipient.as_slice())));
        let (storage_root, storage_nodes) = trie(&storage, &[slot_key]);
        accounts.insert(
            L2_MESSAGE_PASSER,
            TrieAccount { nonce: 1, balance: U256::from(3) * eth, storage_root, code_hash },
        );
        let leaves: BTreeMap<B256, Vec<u8>> =
            accounts.iter().map(|(a, acc)| (keccak256(a), alloy::rlp::encode(acc))).collect();
        let named_accounts = [
            ("alice", alice),
            ("zero", zero),
            ("absent", absent),
            ("vault", vault),
            ("orphan", orphan),
            ("passer", L2_MESSAGE_PASSER),
        ];
        let targets: Vec<B256> = named_accounts.iter().map(|(_, a)| keccak256(a)).collect();
        let (root, nodes) = trie(&leaves, &targets);
        let mut out = serde_json::Map::new();
        out.insert("stateRoot".into(), json!(root));
        for (name, address) in named_accounts {
            let account = accounts.get(&address).cloned().unwrap_or_default();
            out.insert(
                name.into(),
                json!({
                    "address": address,
                    "balance": account.balance.to_string(),
                    "codeHash": if accounts.contains_key(&address) { account.code_hash } else { KECCAK_EMPTY },
                    "storageRoot": if accounts.contains_key(&address) { account.storage_root } else { EMPTY_ROOT_HASH },
                    "proof": proof(&nodes, &keccak256(address)),
                }),
            );
        }
        out.insert(
            "vaultRecipient".into(),
            json!({ "address": vault_recipient, "proof": proof(&storage_nodes, &slot_key) }),
        );
        (root, Value::Object(out))
    }

    /// The fixture file's text.
    pub(super) fn build() -> String {
        let eth = U256::from(10).pow(U256::from(18));
        let (_, good) = state(U256::from(2) * eth);
        let (_, bad) = state(U256::from(1002) * eth);
        serde_json::to_string_pretty(&json!({
            "_comment": "written by tests/tests/it/contracts.rs (escape_proof_fixture_is_current); do not edit",
            "good": good,
            "bad": bad,
        }))
        .unwrap()
            + "\n"
    }
}
