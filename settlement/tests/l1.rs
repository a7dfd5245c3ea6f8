//! The settlement core against the real contracts on a real anvil: EIP-712 hashes equal the
//! contract's views, signatures gathered by `SignatureSet` pass `submitBatch`, quorum and order
//! failures decode to the contract's custom errors, deposits and `MessageSent` logs decode, and
//! a withdrawal proven with the Rust messages tree is paid out once.

use alloy::{
    primitives::{Address, B256, Bytes, U256, bytes},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use flashlayer_settlement::{
    Batch, EMPTY_MESSAGES_ROOT, L2Message, SignatureSet, batch_hash,
    bindings::{
        FlashLayer::{self, FlashLayerErrors},
        L2MessagePasser,
    },
    domain, messages_root, proof, sign, signer_set_update_signing_hash, signing_hash, threshold_for,
};
use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Anvil's first dev account.
const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ETH: u64 = 1_000_000_000_000_000_000;

/// An anvil process on a free port, killed on drop.
struct Anvil {
    url: String,
    child: Child,
}

impl Anvil {
    async fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_owned();
        let bin = root.join(".tools/bin/anvil");
        assert!(bin.exists(), "{} missing: run scripts/setup first", bin.display());
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(&bin);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Drop does not run when the test is killed (timeout, Ctrl-C): have the kernel kill
        // anvil with us rather than leak it.
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut anvil = Self { url: format!("http://127.0.0.1:{port}"), child };
        let provider = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while provider.get_chain_id().await.is_err() {
            if let Some(status) = anvil.child.try_wait().unwrap() {
                panic!("anvil exited with {status}");
            }
            assert!(Instant::now() < deadline, "anvil did not answer within 30s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anvil
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_success(receipt: &TransactionReceipt, what: &str) {
    assert!(receipt.status(), "{what} failed: {receipt:?}");
}

/// The custom error a failed contract call reverted with.
fn revert_of(err: alloy::contract::Error) -> FlashLayerErrors {
    err.as_decoded_interface_error::<FlashLayerErrors>()
        .unwrap_or_else(|| panic!("not a FlashLayer custom error: {err}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn settlement_against_the_contracts_on_anvil() {
    let anvil = Anvil::start().await;
    let dev: PrivateKeySigner = DEV_KEY.parse().unwrap();
    // Simple nonce management (ask the node each time) instead of the recommended fillers'
    // cached nonces: the fillers run concurrently, so a send whose gas estimation reverts has
    // already taken a cached nonce, and every later transaction waits behind the gap forever.
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(dev.clone())
        .connect_http(anvil.url.parse().unwrap());
    let chain_id = provider.get_chain_id().await.unwrap();

    // ---------------------------------------------------------------- deployment
    let mut keys: Vec<_> = (0..4).map(|_| PrivateKeySigner::random()).collect();
    keys.sort_by_key(|k| k.address());
    let members: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let threshold = threshold_for(members.len());
    assert_eq!(threshold, 3);
    let genesis = B256::repeat_byte(0x99);
    let consensus_keys: Vec<B256> = (1..=4u8).map(B256::repeat_byte).collect();
    let fl = FlashLayer::deploy(
        &provider,
        members.clone(),
        U256::from(threshold),
        genesis,
        0,
        0,
        U256::ZERO,
        consensus_keys,
        flashlayer_settlement::data::DataAvailability::Committee.contract_mode(),
        FlashLayer::Recourse {
            genesisStateRoot: B256::repeat_byte(0x98),
            gracePeriod: 86_400,
            watchers: Vec::new(),
        },
    )
    .await
    .expect("deploy FlashLayer");
    assert_eq!(fl.signers().call().await.unwrap(), members);
    assert_eq!(fl.threshold().call().await.unwrap(), U256::from(threshold));
    assert_eq!(fl.EMPTY_MESSAGES_ROOT().call().await.unwrap(), EMPTY_MESSAGES_ROOT);
    let d = domain(chain_id, *fl.address());
    assert_eq!(fl.domainSeparator().call().await.unwrap(), d.separator());
    assert_eq!(
        fl.signerSetUpdateDigest(1, 4, 2, members.clone(), U256::from(threshold)).call().await.unwrap(),
        signer_set_update_signing_hash(1, 4, 2, &members, threshold as u64, &d)
    );

    // ---------------------------------------------------------------- deposits
    let depositor = dev.address();
    let l2_recipient = Address::repeat_byte(0x42);
    for nonce in 1..=2u64 {
        let receipt = fl
            .deposit(l2_recipient)
            .value(U256::from(ETH))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert_success(&receipt, "deposit");
        let deposits: Vec<_> = receipt
            .logs()
            .iter()
            .filter_map(|log| FlashLayer::Deposit::decode_log(&log.inner).ok())
            .collect();
        assert_eq!(deposits.len(), 1);
        assert_eq!(deposits[0].address, *fl.address());
        let event = &deposits[0].data;
        assert_eq!(
            (event.nonce, event.from, event.to, event.amount),
            (nonce, depositor, l2_recipient, U256::from(ETH))
        );
    }
    assert_eq!(fl.depositCount().call().await.unwrap(), 2);
    // The running deposits hash as L2 computes it from the credited deposits matches L1's.
    let mut deposits_hash = B256::ZERO;
    for nonce in 1..=2u64 {
        let deposit = flashlayer_execution::Deposit {
            nonce,
            from: depositor,
            to: l2_recipient,
            amount: U256::from(ETH),
        };
        deposits_hash = flashlayer_execution::messages::next_deposits_hash(deposits_hash, &deposit);
        assert_eq!(fl.depositsHash(nonce).call().await.unwrap(), deposits_hash, "deposits hash {nonce}");
    }

    // ---------------------------------------------------------------- L2 messages
    // The L2MessagePasser on the same anvil stands in for the L2: its logs are real MessageSent
    // events, the batch commits to them and one of them is relayed on "L1".
    let passer = L2MessagePasser::deploy(&provider).await.expect("deploy L2MessagePasser");
    let withdrawal_to = PrivateKeySigner::random().address();
    let calls = [
        passer.withdraw(withdrawal_to).value(U256::from(ETH / 2)).clear_decoder(),
        passer.sendMessage(Address::repeat_byte(0x77), bytes!("deadbeef")).clear_decoder(),
        passer.withdraw(Address::repeat_byte(0x78)).value(U256::from(ETH / 4)).clear_decoder(),
    ];
    let mut messages = Vec::new();
    for call in calls {
        let receipt = call.send().await.unwrap().get_receipt().await.unwrap();
        assert_success(&receipt, "L2MessagePasser");
        assert_eq!(receipt.logs().len(), 1);
        let log = &receipt.logs()[0].inner;
        assert_eq!(log.address, *passer.address());
        let event = L2MessagePasser::MessageSent::decode_log(log).unwrap().data;
        let message = L2Message::from_log(log).unwrap();
        assert_eq!(event.messageHash, message.hash(), "messageHash");
        assert_eq!(message.nonce, U256::from(messages.len() + 1));
        assert_eq!(message.sender, dev.address());
        messages.push(message);
    }
    assert_eq!(messages[0].target, withdrawal_to);
    assert_eq!(messages[0].value, U256::from(ETH / 2));
    assert!(messages[0].data.is_empty());
    assert_eq!(messages[1].data, bytes!("deadbeef"));
    let leaves: Vec<B256> = messages.iter().map(L2Message::leaf).collect();

    // ---------------------------------------------------------------- batch 1
    let batch1 = Batch {
        index: 1,
        prevBatchHash: B256::ZERO,
        firstBlock: 1,
        lastBlock: 10,
        lastBlockHash: B256::repeat_byte(0x11),
        stateRoot: B256::repeat_byte(0x12),
        txDataHash: B256::repeat_byte(0x13),
        messagesRoot: messages_root(&leaves),
        lastDepositNonce: 2,
        depositsHash: deposits_hash,
    };
    assert_eq!(fl.batchHash(batch1.clone()).call().await.unwrap(), batch_hash(&batch1));
    assert_eq!(fl.batchDigest(batch1.clone()).call().await.unwrap(), signing_hash(&batch1, &d));

    // Signatures arrive in any order; SignatureSet puts them in the contract's.
    let mut set = SignatureSet::new(signing_hash(&batch1, &d), members.clone(), threshold).unwrap();
    for key in [&keys[3], &keys[0], &keys[2]] {
        assert!(set.add(key.address(), &sign(&batch1, &d, key).unwrap()).unwrap());
    }
    let signatures = set.quorum().expect("3 of 4");
    let receipt =
        fl.submitBatch(batch1.clone(), signatures).send().await.unwrap().get_receipt().await.unwrap();
    assert_success(&receipt, "submitBatch");
    println!("submitBatch 3 of 4: {} gas", receipt.gas_used);
    assert_eq!(fl.lastBatchIndex().call().await.unwrap(), 1);
    assert_eq!(fl.lastBatchHash().call().await.unwrap(), batch_hash(&batch1));
    let accepted: Vec<_> = receipt
        .logs()
        .iter()
        .filter_map(|log| FlashLayer::BatchAccepted::decode_log(&log.inner).ok())
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!((accepted[0].data.index, accepted[0].data.batchHash), (1, batch_hash(&batch1)));

    // ---------------------------------------------------------------- batch 2: quorum and order
    let batch2 = Batch {
        index: 2,
        prevBatchHash: batch_hash(&batch1),
        firstBlock: 11,
        lastBlock: 20,
        lastBlockHash: B256::repeat_byte(0x21),
        stateRoot: B256::repeat_byte(0x22),
        txDataHash: B256::repeat_byte(0x23),
        messagesRoot: EMPTY_MESSAGES_ROOT,
        lastDepositNonce: 2,
        depositsHash: deposits_hash,
    };
    let sigs2: Vec<Bytes> = keys.iter().map(|k| sign(&batch2, &d, k).unwrap()).collect();
    let err = fl.submitBatch(batch2.clone(), sigs2[..2].to_vec()).send().await.unwrap_err();
    assert_eq!(
        revert_of(err),
        FlashLayerErrors::BelowThreshold(FlashLayer::BelowThreshold {
            got: U256::from(2),
            need: U256::from(3)
        })
    );
    // Enough signatures in the wrong order: what SignatureSet is for.
    let descending = vec![sigs2[3].clone(), sigs2[2].clone(), sigs2[1].clone()];
    let err = fl.submitBatch(batch2.clone(), descending).send().await.unwrap_err();
    assert_eq!(
        revert_of(err),
        FlashLayerErrors::SignersNotAscending(FlashLayer::SignersNotAscending { position: U256::from(1) })
    );
    assert_eq!(fl.lastBatchIndex().call().await.unwrap(), 1);

    // ---------------------------------------------------------------- relay
    let before = provider.get_balance(withdrawal_to).await.unwrap();
    assert_eq!(before, U256::ZERO);
    let m = &messages[0];
    let relay = || {
        fl.relayMessage(1, m.nonce, m.sender, m.target, m.value, m.data.clone(), proof(&leaves, 0).unwrap())
    };
    let receipt = relay().send().await.unwrap().get_receipt().await.unwrap();
    assert_success(&receipt, "relayMessage");
    assert_eq!(provider.get_balance(withdrawal_to).await.unwrap(), before + m.value);
    assert!(fl.relayed(m.hash()).call().await.unwrap());
    let err = relay().send().await.unwrap_err();
    assert_eq!(
        revert_of(err),
        FlashLayerErrors::AlreadyRelayed(FlashLayer::AlreadyRelayed { messageHash: m.hash() })
    );

    // Another message with the first one's proof does not reach the root.
    let m = &messages[2];
    let err = fl
        .relayMessage(1, m.nonce, m.sender, m.target, m.value, m.data.clone(), proof(&leaves, 0).unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        revert_of(err),
        FlashLayerErrors::InvalidMessageProof(FlashLayer::InvalidMessageProof { messageHash: m.hash() })
    );
}
