//! The window of history and EIP-1186 proofs: the state of recent blocks answers reads, calls
//! and proofs as on geth, and every proof verifies against its block's `stateRoot` with an
//! independent verifier (alloy-trie's `verify_proof`), for present and absent accounts and
//! slots. Older blocks get geth's "historical state ... is not available".

use alloy::{
    eips::BlockId,
    network::TransactionBuilder,
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::{EIP1186AccountProofResponse, TransactionRequest},
    sol,
};
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use flashlayer_tests::{TestNode, cast, forge_create};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};

sol! {
    #[sol(rpc)]
    contract TestNFT {
        function mint(address to) public returns (uint256 tokenId);
        function totalSupply() public view returns (uint256);
    }
}

/// `_minted` of TestNFT (after ERC721's six slots).
const MINTED_SLOT: u64 = 6;

/// Checks an `eth_getProof` answer against a state root with alloy-trie alone: the account proof
/// against `state_root`, each storage proof against the account's storage root.
fn verify(proof: &EIP1186AccountProofResponse, state_root: B256, exists: bool) {
    let key = Nibbles::unpack(keccak256(proof.address));
    let account = TrieAccount {
        nonce: proof.nonce,
        balance: proof.balance,
        storage_root: proof.storage_hash,
        code_hash: proof.code_hash,
    };
    let expected = exists.then(|| alloy::rlp::encode(account));
    verify_proof(state_root, key, expected, &proof.account_proof)
        .unwrap_or_else(|e| panic!("account proof of {} does not verify: {e}", proof.address));
    // A proof does not verify another value.
    let wrong = TrieAccount { balance: proof.balance + U256::from(1), ..account };
    assert!(verify_proof(state_root, key, Some(alloy::rlp::encode(wrong)), &proof.account_proof).is_err());
    for slot in &proof.storage_proof {
        let key = Nibbles::unpack(keccak256(slot.key.as_b256()));
        let expected = (!slot.value.is_zero()).then(|| alloy::rlp::encode(slot.value));
        verify_proof(proof.storage_hash, key, expected, &slot.proof)
            .unwrap_or_else(|e| panic!("storage proof of slot {} does not verify: {e}", slot.key));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_blocks_state_reads_calls_and_proofs_verify_against_their_state_roots() {
    const WINDOW: u64 = 48;
    let node = TestNode::start_with_args(&["--state-history", &WINDOW.to_string()]).await;
    let accounts = node.accounts();
    let provider = node.provider();
    let wallet = node.wallet(&accounts[0]);
    let http = HttpClientBuilder::default().build(node.rpc_url()).unwrap();
    let nft = forge_create(&node.rpc_url(), &accounts[0].private_key, "src/test/TestNFT.sol:TestNFT", &[]);
    let token = TestNFT::new(nft, &wallet);
    let to = Address::repeat_byte(0x5a);

    // Five blocks, each with a transfer to `to` and a mint: balances and the NFT's counter move.
    let mut seen: Vec<(u64, U256, u64)> = Vec::new();
    for k in 1..=5u64 {
        let tx = TransactionRequest::default().with_to(to).with_value(U256::from(k * 1000));
        wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        let receipt = token.mint(to).send().await.unwrap().get_receipt().await.unwrap();
        let number = receipt.block_number.unwrap();
        seen.push((number, provider.get_balance(to).block_id(BlockId::number(number)).await.unwrap(), k));
    }
    let absent = Address::repeat_byte(0xab);
    for &(number, balance, minted) in &seen {
        let at = BlockId::number(number);
        // Reads and calls at the block, as geth answers them.
        assert_eq!(provider.get_balance(to).block_id(at).await.unwrap(), balance, "balance at {number}");
        let slot = provider.get_storage_at(nft, U256::from(MINTED_SLOT)).block_id(at).await.unwrap();
        assert_eq!(slot, U256::from(minted), "NFT counter slot at {number}");
        let supply = token.totalSupply().block(at).call().await.unwrap();
        assert_eq!(supply, U256::from(minted), "totalSupply() called at block {number}");
        // Proofs against the block's own state root.
        let root = provider.get_block_by_number(number.into()).await.unwrap().unwrap().header.state_root;
        let proof = provider.get_proof(to, vec![]).block_id(at).await.unwrap();
        assert_eq!(proof.balance, balance);
        verify(&proof, root, true);
        let keys = vec![B256::from(U256::from(MINTED_SLOT)), B256::from(U256::from(99)), B256::ZERO];
        let proof = provider.get_proof(nft, keys).block_id(at).await.unwrap();
        assert_eq!(proof.storage_proof[0].value, U256::from(minted));
        assert_eq!(proof.storage_proof[1].value, U256::ZERO, "slot 99 is absent");
        assert!(!proof.storage_proof[2].value.is_zero(), "slot 0 holds the name");
        verify(&proof, root, true);
        let proof = provider.get_proof(absent, vec![B256::ZERO]).block_id(at).await.unwrap();
        assert_eq!((proof.balance, proof.nonce), (U256::ZERO, 0));
        verify(&proof, root, false);
    }
    // The head too, and through cast, as a wallet developer asks.
    let head = provider.get_block_number().await.unwrap();
    let root = provider.get_block_by_number(head.into()).await.unwrap().unwrap().header.state_root;
    verify(
        &provider.get_proof(accounts[0].address, vec![]).block_id(BlockId::number(head)).await.unwrap(),
        root,
        true,
    );
    let (first, first_balance, _) = seen[0];
    let out =
        cast(&["balance", "--block", &first.to_string(), &to.to_string(), "--rpc-url", &node.rpc_url()]);
    assert_eq!(out.trim(), first_balance.to_string());

    // Past the window: geth's error, for reads, calls and proofs alike.
    while provider.get_block_number().await.unwrap() <= first + WINDOW + 1 {
        let tx = TransactionRequest::default().with_to(to).with_value(U256::from(1));
        wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    }
    let block = format!("{first:#x}");
    for (method, params) in [
        ("eth_getBalance", rpc_params![to, block.clone()]),
        ("eth_getStorageAt", rpc_params![nft, "0x6", block.clone()]),
        ("eth_getProof", rpc_params![to, Vec::<B256>::new(), block.clone()]),
        ("eth_call", rpc_params![serde_json::json!({"to": nft, "data": "0x18160ddd"}), block.clone()]),
    ] {
        let err = http.request::<serde_json::Value, _>(method, params).await.unwrap_err();
        assert!(
            err.to_string().contains("historical state") && err.to_string().contains("is not available"),
            "{method}: {err}"
        );
    }
    // The window's bottom still answers.
    let (last, last_balance, _) = seen[4];
    if provider.get_block_number().await.unwrap() <= last + WINDOW {
        assert_eq!(provider.get_balance(to).block_id(BlockId::number(last)).await.unwrap(), last_balance);
    }
}
