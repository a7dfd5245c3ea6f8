// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase, MessageTarget} from "./utils/LayerTestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";
import {MessageTree} from "../src/MessageTree.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// ====================================================================== deployment & EIP-712

contract FlashLayerDeployTest is LayerTestBase {
    function test_InitialState() public view {
        vm.assertEq(layer.signers(), addrs, "signers");
        vm.assertEq(layer.threshold(), 3, "threshold");
        vm.assertEq(uint256(layer.epoch()), 0, "epoch");
        for (uint256 i = 0; i < addrs.length; ++i) {
            vm.assertTrue(layer.isSigner(addrs[i]), "member");
        }
        vm.assertFalse(layer.isSigner(address(this)), "non-member");
        vm.assertFalse(layer.isSigner(address(0)), "zero");
        vm.assertEq(uint256(layer.lastBatchIndex()), 0, "lastBatchIndex");
        vm.assertEq(layer.lastBatchHash(), bytes32(0), "lastBatchHash");
        vm.assertEq(uint256(layer.lastBlock()), 0, "lastBlock");
        vm.assertEq(uint256(layer.depositCount()), 0, "depositCount");
        vm.assertEq(layer.genesisBlockHash(), GENESIS, "genesisBlockHash");
        vm.assertEq(uint256(layer.challengeWindow()), WINDOW, "challengeWindow");
        vm.assertEq(layer.l2Sender(), address(0), "l2Sender outside a relay");

        FlashLayer.BatchRecord memory g = layer.batch(0);
        vm.assertEq(g.batchHash, bytes32(0), "genesis record hash");
        vm.assertEq(g.lastBlockHash, GENESIS, "genesis record block hash");
        vm.assertEq(uint256(g.lastBlock), 0, "genesis record lastBlock");
        vm.assertEq(uint256(g.acceptedAt), block.timestamp, "genesis record acceptedAt");
    }

    function test_ConstructorEmitsInitialSignerSet() public {
        vm.expectEmit(true, false, false, true);
        emit FlashLayer.SignerSetUpdated(0, addrs, 3);
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0);
    }

    function test_Constants() public view {
        vm.assertEq(layer.EMPTY_MESSAGES_ROOT(), keccak256(""), "empty root");
        vm.assertEq(
            layer.BATCH_TYPEHASH(),
            keccak256(
                "Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce)"
            ),
            "batch typehash"
        );
        vm.assertEq(
            layer.SIGNER_SET_UPDATE_TYPEHASH(),
            keccak256("SignerSetUpdate(uint64 epoch,address[] signers,uint256 threshold)"),
            "signer set typehash"
        );
    }

    function test_DomainSeparatorByHand() public view {
        vm.assertEq(layer.domainSeparator(), domainOf(block.chainid, address(layer)), "domain separator");
    }

    function test_BatchHashAndDigestByHand() public view {
        FlashLayer.Batch memory b = makeBatch(7, keccak256("prev"), 100, 120);
        b.lastDepositNonce = 9;
        bytes32 structHash = keccak256(
            abi.encode(
                layer.BATCH_TYPEHASH(),
                b.index,
                b.prevBatchHash,
                b.firstBlock,
                b.lastBlock,
                b.lastBlockHash,
                b.stateRoot,
                b.txDataHash,
                b.messagesRoot,
                b.lastDepositNonce
            )
        );
        vm.assertEq(layer.batchHash(b), structHash, "struct hash");
        vm.assertEq(layer.batchDigest(b), typedDigest(layer.domainSeparator(), structHash), "digest");
    }

    /// Cross-check against forge's own (alloy) EIP-712 implementation from a JSON typed-data document.
    function test_BatchDigestMatchesEip712Json() public view {
        FlashLayer.Batch memory b = makeBatch(7, keccak256("prev"), 100, 120);
        b.lastDepositNonce = 9;
        string memory json = string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"Batch":[{"name":"index","type":"uint64"},{"name":"prevBatchHash","type":"bytes32"},',
            '{"name":"firstBlock","type":"uint64"},{"name":"lastBlock","type":"uint64"},',
            '{"name":"lastBlockHash","type":"bytes32"},{"name":"stateRoot","type":"bytes32"},',
            '{"name":"txDataHash","type":"bytes32"},{"name":"messagesRoot","type":"bytes32"},',
            '{"name":"lastDepositNonce","type":"uint64"}]},"primaryType":"Batch",',
            _domainJson(),
            ',"message":{"index":7,"prevBatchHash":"',
            vm.toString(b.prevBatchHash),
            '","firstBlock":100,"lastBlock":120,"lastBlockHash":"',
            vm.toString(b.lastBlockHash),
            '","stateRoot":"',
            vm.toString(b.stateRoot),
            '","txDataHash":"',
            vm.toString(b.txDataHash),
            '","messagesRoot":"',
            vm.toString(b.messagesRoot),
            '","lastDepositNonce":9}}'
        );
        vm.assertEq(vm.eip712HashTypedData(json), layer.batchDigest(b), "digest vs eip712HashTypedData");
    }

    function test_SignerSetUpdateDigestMatchesEip712Json() public view {
        string memory list = string.concat(
            '["',
            vm.toString(addrs[0]),
            '","',
            vm.toString(addrs[1]),
            '","',
            vm.toString(addrs[2]),
            '","',
            vm.toString(addrs[3]),
            '"]'
        );
        string memory json = string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"SignerSetUpdate":[{"name":"epoch","type":"uint64"},{"name":"signers","type":"address[]"},',
            '{"name":"threshold","type":"uint256"}]},"primaryType":"SignerSetUpdate",',
            _domainJson(),
            ',"message":{"epoch":5,"signers":',
            list,
            ',"threshold":3}}'
        );
        vm.assertEq(
            vm.eip712HashTypedData(json), layer.signerSetUpdateDigest(5, addrs, 3), "digest vs eip712HashTypedData"
        );
    }

    function _domainJson() internal view returns (string memory) {
        return string.concat(
            '"domain":{"name":"FlashLayer","version":"1","chainId":',
            vm.toString(block.chainid),
            ',"verifyingContract":"',
            vm.toString(address(layer)),
            '"}'
        );
    }

    // ------------------------------------------------------------------ constructor rejections

    function test_RevertWhen_ThresholdTooLow() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 2, 4));
        new FlashLayer(addrs, 2, GENESIS, WINDOW, 0, 0);
    }

    function test_RevertWhen_ThresholdZero() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 0, 4));
        new FlashLayer(addrs, 0, GENESIS, WINDOW, 0, 0);
    }

    function test_RevertWhen_ThresholdAboveSignerCount() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 5, 4));
        new FlashLayer(addrs, 5, GENESIS, WINDOW, 0, 0);
    }

    function test_ThresholdBoundaries() public {
        // n = 1, 3, 4, 7, 10: smallest threshold above 2/3 accepted, one less rejected
        uint256[5] memory ns = [uint256(1), 3, 4, 7, 10];
        uint256[5] memory ts = [uint256(1), 3, 3, 5, 7];
        for (uint256 k = 0; k < ns.length; ++k) {
            (, address[] memory set) = sortedKeys("boundary", ns[k]);
            new FlashLayer(set, ts[k], GENESIS, WINDOW, 0, 0);
            new FlashLayer(set, ns[k], GENESIS, WINDOW, 0, 0);
            vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, ts[k] - 1, ns[k]));
            new FlashLayer(set, ts[k] - 1, GENESIS, WINDOW, 0, 0);
        }
    }

    function test_RevertWhen_SignersUnsorted() public {
        address[] memory set = _copy(addrs);
        (set[1], set[2]) = (set[2], set[1]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignerSetNotSorted.selector, 2));
        new FlashLayer(set, 3, GENESIS, WINDOW, 0, 0);
    }

    function test_RevertWhen_SignersDuplicated() public {
        address[] memory set = _copy(addrs);
        set[3] = set[2];
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignerSetNotSorted.selector, 3));
        new FlashLayer(set, 3, GENESIS, WINDOW, 0, 0);
    }

    function test_RevertWhen_SignerZeroAddress() public {
        address[] memory set = _copy(addrs);
        set[0] = address(0);
        vm.expectRevert(FlashLayer.ZeroSignerAddress.selector);
        new FlashLayer(set, 3, GENESIS, WINDOW, 0, 0);
    }

    function test_RevertWhen_SignerSetEmpty() public {
        vm.expectRevert(FlashLayer.EmptySignerSet.selector);
        new FlashLayer(new address[](0), 0, GENESIS, WINDOW, 0, 0);
    }

    function test_RevertWhen_GenesisHashZero() public {
        vm.expectRevert(FlashLayer.ZeroGenesisHash.selector);
        new FlashLayer(addrs, 3, bytes32(0), WINDOW, 0, 0);
    }

    function _copy(address[] memory a) internal pure returns (address[] memory c) {
        c = new address[](a.length);
        for (uint256 i = 0; i < a.length; ++i) {
            c[i] = a[i];
        }
    }
}

// ====================================================================== batches

contract FlashLayerBatchTest is LayerTestBase {
    function test_SubmitBatch_3of4() public {
        vm.roll(1234);
        vm.warp(1_700_000_000);
        FlashLayer.Batch memory b = nextBatch(10);
        bytes32 h = layer.batchHash(b);
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.BatchAccepted(1, h, 1, 10, b.lastBlockHash, b.stateRoot, b.messagesRoot);
        layer.submitBatch(b, sigsFirst(keys, 3, layer.batchDigest(b)));

        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "lastBatchIndex");
        vm.assertEq(layer.lastBatchHash(), h, "lastBatchHash");
        vm.assertEq(uint256(layer.lastBlock()), 10, "lastBlock");
        FlashLayer.BatchRecord memory r = layer.batch(1);
        vm.assertEq(r.batchHash, h, "record hash");
        vm.assertEq(uint256(r.lastBlock), 10, "record lastBlock");
        vm.assertEq(r.lastBlockHash, b.lastBlockHash, "record lastBlockHash");
        vm.assertEq(r.stateRoot, b.stateRoot, "record stateRoot");
        vm.assertEq(r.messagesRoot, MessageTree.EMPTY_ROOT, "record messagesRoot");
        vm.assertEq(uint256(r.lastDepositNonce), 0, "record lastDepositNonce");
        vm.assertEq(uint256(r.acceptedBlock), 1234, "record acceptedBlock");
        vm.assertEq(uint256(r.acceptedAt), 1_700_000_000, "record acceptedAt");
    }

    function test_SubmitBatch_4of4() public {
        FlashLayer.Batch memory b = nextBatch(1);
        layer.submitBatch(b, sigsFirst(keys, 4, layer.batchDigest(b)));
        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "lastBatchIndex");
        vm.assertEq(uint256(layer.lastBlock()), 1, "single-block batch");
    }

    function test_SubmitBatch_AnyThreeMembers() public {
        FlashLayer.Batch memory b = nextBatch(5);
        layer.submitBatch(b, sigsBy(keys, idx(1, 2, 3), layer.batchDigest(b)));
        b = nextBatch(5);
        layer.submitBatch(b, sigsBy(keys, idx(0, 1, 3), layer.batchDigest(b)));
        vm.assertEq(uint256(layer.lastBatchIndex()), 2, "lastBatchIndex");
    }

    function test_SubmitBatch_AnyoneCanSubmit() public {
        FlashLayer.Batch memory b = nextBatch(5);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.prank(makeAddr("random relayer"));
        layer.submitBatch(b, sigs);
        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "lastBatchIndex");
    }

    function test_SuccessiveBatches() public {
        bytes32 prev = bytes32(0);
        uint64 first = 1;
        for (uint64 i = 1; i <= 5; ++i) {
            FlashLayer.Batch memory b = makeBatch(i, prev, first, first + i * 3);
            submit(b);
            prev = layer.batchHash(b);
            first = b.lastBlock + 1;
            vm.assertEq(uint256(layer.lastBatchIndex()), i, "lastBatchIndex");
            vm.assertEq(layer.lastBatchHash(), prev, "lastBatchHash");
            vm.assertEq(uint256(layer.lastBlock()), b.lastBlock, "lastBlock");
            vm.assertEq(layer.batch(i).batchHash, prev, "record chain");
            vm.warp(block.timestamp + 12);
        }
        vm.assertEq(layer.batch(6).batchHash, bytes32(0), "no record beyond last");
    }

    function test_BatchCreditsDeposits() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 3 ether);
        vm.startPrank(alice);
        layer.deposit{value: 1 ether}(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.stopPrank();
        FlashLayer.Batch memory b = nextBatch(2);
        b.lastDepositNonce = 1;
        submit(b);
        b = nextBatch(2);
        b.lastDepositNonce = 1; // unchanged is fine
        submit(b);
        b = nextBatch(2);
        b.lastDepositNonce = 2;
        submit(b);
        vm.assertEq(uint256(layer.batch(3).lastDepositNonce), 2, "lastDepositNonce");
    }

    // ------------------------------------------------------------------ signature rejections

    function test_RevertWhen_BelowThreshold() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsFirst(keys, 2, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 2, 3));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_NoSignatures() public {
        FlashLayer.Batch memory b = nextBatch(1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 0, 3));
        layer.submitBatch(b, new bytes[](0));
    }

    function test_RevertWhen_DuplicatedSigner() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsBy(keys, idx(0, 1, 1), layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignersNotAscending.selector, 2));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignersUnsorted() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsBy(keys, idx(0, 2, 1), layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignersNotAscending.selector, 2));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_NonMemberSigner() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes32 digest = layer.batchDigest(b);
        // two members plus an outsider, all in ascending address order
        (uint256[] memory outsider, address[] memory outsiderAddr) = sortedKeys("outsider", 1);
        uint256[] memory ks = new uint256[](3);
        address[] memory as_ = new address[](3);
        (ks[0], as_[0]) = (keys[0], addrs[0]);
        (ks[1], as_[1]) = (keys[1], addrs[1]);
        (ks[2], as_[2]) = (outsider[0], outsiderAddr[0]);
        for (uint256 i = 2; i > 0 && as_[i - 1] > as_[i]; --i) {
            (ks[i], ks[i - 1]) = (ks[i - 1], ks[i]);
            (as_[i], as_[i - 1]) = (as_[i - 1], as_[i]);
        }
        uint256 pos = as_[0] == outsiderAddr[0] ? 0 : as_[1] == outsiderAddr[0] ? 1 : 2;
        bytes[] memory sigs = sigsFirst(ks, 3, digest);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, pos, outsiderAddr[0]));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_HighS() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        (bytes32 r, bytes32 s, uint8 v) = split(sigs[1]);
        // the malleable twin: same signer, s' = n - s, v flipped
        bytes memory twin = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.assertEq(recoverRaw(layer.batchDigest(b), twin), addrs[1], "twin recovers to the same signer");
        sigs[1] = twin;
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignatureHighS.selector, 1));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignatureRecoversToZero_BadV() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        (bytes32 r, bytes32 s,) = split(sigs[2]);
        sigs[2] = abi.encodePacked(r, s, uint8(29));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidSignature.selector, 2));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignatureRecoversToZero_ZeroR() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        (, bytes32 s, uint8 v) = split(sigs[0]);
        sigs[0] = abi.encodePacked(bytes32(0), s, v);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidSignature.selector, 0));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignatureMalformedLength() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        (bytes32 r, bytes32 s,) = split(sigs[1]);
        sigs[1] = abi.encodePacked(r, s); // 64 bytes (ERC-2098 compact form is not accepted)
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignatureWrongLength.selector, 1, 64));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignedForOtherChainId() public {
        FlashLayer.Batch memory b = nextBatch(1);
        uint256 chain = block.chainid;
        vm.chainId(chain + 1);
        bytes32 wrong = layer.batchDigest(b); // OZ EIP712 rebuilds the domain for the new chain id
        vm.chainId(chain);
        vm.assertEq(wrong, typedDigest(domainOf(chain + 1, address(layer)), layer.batchHash(b)), "by hand");
        bytes[] memory sigs = sigsFirst(keys, 3, wrong);
        address recovered = recoverRaw(layer.batchDigest(b), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignedForOtherContract() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes32 wrong = typedDigest(domainOf(block.chainid, address(0xBEEF)), layer.batchHash(b));
        bytes[] memory sigs = sigsFirst(keys, 3, wrong);
        address recovered = recoverRaw(layer.batchDigest(b), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SignaturesForAnotherBatch() public {
        FlashLayer.Batch memory b = nextBatch(1);
        FlashLayer.Batch memory other = nextBatch(2);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(other));
        address recovered = recoverRaw(layer.batchDigest(b), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.submitBatch(b, sigs);
    }

    // ------------------------------------------------------------------ batch field rejections

    function test_RevertWhen_BatchReplayed() public {
        FlashLayer.Batch memory b = nextBatch(4);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        layer.submitBatch(b, sigs);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongBatchIndex.selector, 2, 1));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_IndexSkipped() public {
        FlashLayer.Batch memory b = nextBatch(4);
        b.index = 2;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongBatchIndex.selector, 1, 2));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_WrongPrevBatchHash() public {
        submit(nextBatch(4));
        FlashLayer.Batch memory b = nextBatch(4);
        bytes32 expected = b.prevBatchHash;
        b.prevBatchHash = keccak256("not the previous batch");
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongPrevBatchHash.selector, expected, b.prevBatchHash));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_FirstBatchPrevHashNonZero() public {
        FlashLayer.Batch memory b = nextBatch(4);
        b.prevBatchHash = GENESIS;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongPrevBatchHash.selector, bytes32(0), GENESIS));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_WrongFirstBlock_Gap() public {
        submit(nextBatch(4)); // blocks 1..4
        FlashLayer.Batch memory b = nextBatch(4);
        b.firstBlock = 6;
        b.lastBlock = 9;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongFirstBlock.selector, 5, 6));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_WrongFirstBlock_Overlap() public {
        submit(nextBatch(4)); // blocks 1..4
        FlashLayer.Batch memory b = nextBatch(4);
        b.firstBlock = 4;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongFirstBlock.selector, 5, 4));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_EmptyRange() public {
        submit(nextBatch(4));
        FlashLayer.Batch memory b = nextBatch(1);
        b.lastBlock = b.firstBlock - 1;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.EmptyRange.selector, 5, 4));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_ZeroLastBlockHash() public {
        FlashLayer.Batch memory b = nextBatch(1);
        b.lastBlockHash = bytes32(0);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(FlashLayer.ZeroLastBlockHash.selector);
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_ZeroStateRoot() public {
        FlashLayer.Batch memory b = nextBatch(1);
        b.stateRoot = bytes32(0);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(FlashLayer.ZeroStateRoot.selector);
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_ZeroTxDataHash() public {
        FlashLayer.Batch memory b = nextBatch(1);
        b.txDataHash = bytes32(0);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(FlashLayer.ZeroTxDataHash.selector);
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_ZeroMessagesRoot() public {
        FlashLayer.Batch memory b = nextBatch(1);
        b.messagesRoot = bytes32(0);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(FlashLayer.ZeroMessagesRoot.selector);
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_DepositNonceBeyondDepositCount() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        FlashLayer.Batch memory b = nextBatch(1);
        b.lastDepositNonce = 2;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DepositNonceOutOfRange.selector, 2, 0, 1));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_DepositNonceGoesBack() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 2 ether);
        vm.startPrank(alice);
        layer.deposit{value: 1 ether}(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.stopPrank();
        FlashLayer.Batch memory b = nextBatch(1);
        b.lastDepositNonce = 2;
        submit(b);
        b = nextBatch(1);
        b.lastDepositNonce = 1;
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DepositNonceOutOfRange.selector, 1, 2, 2));
        layer.submitBatch(b, sigs);
    }
}

// ====================================================================== signer set changes

contract FlashLayerSignerSetTest is LayerTestBase {
    uint256[] internal newKeys;
    address[] internal newAddrs;

    function setUp() public override {
        super.setUp();
        (newKeys, newAddrs) = sortedKeys("next signer", 5);
    }

    function test_UpdateSigners() public {
        bytes32 digest = layer.signerSetUpdateDigest(1, newAddrs, 4);
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.SignerSetUpdated(1, newAddrs, 4);
        layer.updateSigners(newAddrs, 4, sigsFirst(keys, 3, digest));

        vm.assertEq(uint256(layer.epoch()), 1, "epoch");
        vm.assertEq(layer.threshold(), 4, "threshold");
        vm.assertEq(layer.signers(), newAddrs, "signers");
        for (uint256 i = 0; i < 4; ++i) {
            vm.assertFalse(layer.isSigner(addrs[i]), "old member removed");
        }
        for (uint256 i = 0; i < 5; ++i) {
            vm.assertTrue(layer.isSigner(newAddrs[i]), "new member");
        }

        // the new set settles batches ...
        FlashLayer.Batch memory b = nextBatch(3);
        layer.submitBatch(b, sigsFirst(newKeys, 4, layer.batchDigest(b)));
        // ... with its own threshold ...
        b = nextBatch(3);
        bytes32 bd = layer.batchDigest(b);
        bytes[] memory three = sigsFirst(newKeys, 3, bd);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 3, 4));
        layer.submitBatch(b, three);
        // ... and the old set no longer does
        bytes[] memory old = sigsFirst(keys, 4, bd);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, addrs[0]));
        layer.submitBatch(b, old);
    }

    function test_UpdateSigners_OverlappingSetRemembersMembership() public {
        // keep signers 1..3, drop 0: then back to the original set
        address[] memory kept = new address[](3);
        for (uint256 i = 0; i < 3; ++i) {
            kept[i] = addrs[i + 1];
        }
        layer.updateSigners(kept, 3, sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, kept, 3)));
        vm.assertFalse(layer.isSigner(addrs[0]), "dropped");
        vm.assertTrue(layer.isSigner(addrs[1]), "kept");
        uint256[] memory w = idx(1, 2, 3);
        layer.updateSigners(addrs, 3, sigsBy(keys, w, layer.signerSetUpdateDigest(2, addrs, 3)));
        vm.assertTrue(layer.isSigner(addrs[0]), "re-added");
        vm.assertEq(uint256(layer.epoch()), 2, "epoch");
    }

    function test_RevertWhen_UpdateSignedByNewSetOnly() public {
        bytes[] memory sigs = sigsFirst(newKeys, 4, layer.signerSetUpdateDigest(1, newAddrs, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, newAddrs[0]));
        layer.updateSigners(newAddrs, 4, sigs);
    }

    function test_RevertWhen_UpdateBelowThreshold() public {
        bytes[] memory sigs = sigsFirst(keys, 2, layer.signerSetUpdateDigest(1, newAddrs, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 2, 3));
        layer.updateSigners(newAddrs, 4, sigs);
    }

    function test_RevertWhen_UpdateSignedForWrongEpoch() public {
        bytes32 wrong = layer.signerSetUpdateDigest(2, newAddrs, 4); // epoch must be current + 1 = 1
        bytes[] memory sigs = sigsFirst(keys, 3, wrong);
        address recovered = recoverRaw(layer.signerSetUpdateDigest(1, newAddrs, 4), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.updateSigners(newAddrs, 4, sigs);
    }

    function test_RevertWhen_UpdateReplayed() public {
        bytes[] memory sigs = sigsFirst(keys, 4, layer.signerSetUpdateDigest(1, newAddrs, 4));
        layer.updateSigners(newAddrs, 4, sigs);
        // replaying the same update: now epoch 2 is signed for, and the old set is not a member anymore
        address recovered = recoverRaw(layer.signerSetUpdateDigest(2, newAddrs, 4), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.updateSigners(newAddrs, 4, sigs);
    }

    function test_RevertWhen_UpdateWithInvalidThreshold() public {
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, newAddrs, 3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 3, 5));
        layer.updateSigners(newAddrs, 3, sigs);
    }

    function test_RevertWhen_UpdateWithUnsortedSet() public {
        (newAddrs[0], newAddrs[4]) = (newAddrs[4], newAddrs[0]);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, newAddrs, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignerSetNotSorted.selector, 1));
        layer.updateSigners(newAddrs, 4, sigs);
    }

    function test_RevertWhen_UpdateWithEmptySet() public {
        address[] memory none = new address[](0);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, none, 0));
        vm.expectRevert(FlashLayer.EmptySignerSet.selector);
        layer.updateSigners(none, 0, sigs);
    }
}

// ====================================================================== deposits

contract FlashLayerDepositTest is LayerTestBase {
    address internal alice;
    address internal bob;

    function setUp() public override {
        super.setUp();
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        vm.deal(alice, 10 ether);
    }

    function test_Deposit() public {
        vm.expectEmit(true, true, true, true, address(layer));
        emit FlashLayer.Deposit(1, alice, bob, 1 ether);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(bob);

        vm.expectEmit(true, true, true, true, address(layer));
        emit FlashLayer.Deposit(2, alice, alice, 2 wei);
        vm.prank(alice);
        layer.deposit{value: 2 wei}(alice);

        vm.assertEq(uint256(layer.depositCount()), 2, "depositCount");
        vm.assertEq(address(layer).balance, 1 ether + 2 wei, "locked");
    }

    function test_RevertWhen_DepositZeroValue() public {
        vm.expectRevert(FlashLayer.ZeroDeposit.selector);
        vm.prank(alice);
        layer.deposit(bob);
    }

    function test_RevertWhen_DepositToZeroAddress() public {
        vm.expectRevert(FlashLayer.ZeroRecipient.selector);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(address(0));
    }

    function test_RevertWhen_PlainEthTransfer() public {
        vm.prank(alice);
        (bool ok, bytes memory ret) = address(layer).call{value: 1 ether}("");
        vm.assertFalse(ok, "plain transfer accepted");
        vm.assertEq(ret, abi.encodeWithSelector(FlashLayer.UseDeposit.selector), "revert data");
        vm.assertEq(address(layer).balance, 0, "balance");
        vm.assertEq(uint256(layer.depositCount()), 0, "depositCount");
    }

    function test_RevertWhen_UnknownCalldataWithEth() public {
        vm.prank(alice);
        (bool ok,) = address(layer).call{value: 1 ether}(hex"deadbeef");
        vm.assertFalse(ok, "unknown call accepted");
    }
}

// ====================================================================== relaying messages

contract FlashLayerRelayTest is LayerTestBase {
    address internal l2Alice;
    MessageTarget internal target;

    function setUp() public override {
        super.setUp();
        l2Alice = makeAddr("l2 alice");
        target = new MessageTarget();
        address depositor = makeAddr("depositor");
        vm.deal(depositor, 100 ether);
        vm.prank(depositor);
        layer.deposit{value: 100 ether}(depositor);
    }

    function withdrawal(uint256 nonce, address to, uint256 value) internal view returns (Message memory) {
        return Message({nonce: nonce, sender: l2Alice, target: to, value: value, data: ""});
    }

    /// `n` withdrawals to distinct recipients.
    function withdrawals(uint256 n) internal returns (Message[] memory ms) {
        ms = new Message[](n);
        for (uint256 i = 0; i < n; ++i) {
            ms[i] = withdrawal(10 + i, makeAddr(string.concat("recipient ", vm.toString(i))), (i + 1) * 1 ether);
        }
    }

    function relayAll(uint256 n) internal {
        Message[] memory ms = withdrawals(n);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory leaves = leavesOf(ms);
        for (uint256 i = 0; i < n; ++i) {
            vm.expectEmit(true, true, true, true, address(layer));
            emit FlashLayer.MessageRelayed(msgHash(ms[i]), ms[i].nonce, ms[i].target, ms[i].value);
            relay(b, ms[i], MessageTree.proof(leaves, i));
            vm.assertEq(ms[i].target.balance, ms[i].value, "withdrawal arrived");
            vm.assertTrue(layer.relayed(msgHash(ms[i])), "marked relayed");
        }
    }

    function test_Relay_1Leaf() public {
        relayAll(1);
    }

    function test_Relay_2Leaves() public {
        relayAll(2);
    }

    function test_Relay_3Leaves() public {
        relayAll(3);
    }

    function test_Relay_5Leaves() public {
        relayAll(5);
    }

    function test_Relay_8Leaves() public {
        relayAll(8);
    }

    function test_TreeShape() public {
        Message[] memory ms = withdrawals(5);
        bytes32[] memory l = leavesOf(ms);
        vm.assertEq(l[0], keccak256(abi.encodePacked(msgHash(ms[0]))), "leaf = keccak(messageHash)");
        vm.assertEq(MessageTree.root(new bytes32[](0)), keccak256(""), "no leaves");
        bytes32[] memory one = new bytes32[](1);
        one[0] = l[0];
        vm.assertEq(MessageTree.root(one), l[0], "one leaf");
        bytes32[] memory three = new bytes32[](3);
        (three[0], three[1], three[2]) = (l[0], l[1], l[2]);
        vm.assertEq(
            MessageTree.root(three),
            Hashes.commutativeKeccak256(Hashes.commutativeKeccak256(l[0], l[1]), l[2]),
            "three leaves: last carried up"
        );
        bytes32 h01 = Hashes.commutativeKeccak256(l[0], l[1]);
        bytes32 h23 = Hashes.commutativeKeccak256(l[2], l[3]);
        vm.assertEq(
            MessageTree.root(l), Hashes.commutativeKeccak256(Hashes.commutativeKeccak256(h01, h23), l[4]), "five leaves"
        );
        bytes32[] memory p4 = MessageTree.proof(l, 4);
        vm.assertEq(p4.length, 1, "carried leaf has a single sibling");
        vm.assertEq(p4[0], Hashes.commutativeKeccak256(h01, h23), "carried leaf's sibling");
    }

    function test_Relay_CallsTargetWithCalldata() public {
        Message[] memory ms = new Message[](2);
        ms[0] = withdrawal(1, makeAddr("someone"), 1 ether);
        ms[1] = Message({
            nonce: 2,
            sender: l2Alice,
            target: address(target),
            value: 0.25 ether,
            data: abi.encodeCall(MessageTarget.ping, (42))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        relay(b, ms[1], MessageTree.proof(leavesOf(ms), 1));
        vm.assertEq(target.x(), 42, "called with data");
        vm.assertEq(target.caller(), address(layer), "msg.sender is the layer");
        vm.assertEq(target.l2Sender(), l2Alice, "l2Sender during the call");
        vm.assertEq(target.received(), 0.25 ether, "value");
        vm.assertEq(layer.l2Sender(), address(0), "l2Sender cleared");
    }

    function test_Relay_FailingTargetRevertsAndStaysRelayable() public {
        Message[] memory ms = new Message[](1);
        ms[0] = Message({
            nonce: 1,
            sender: l2Alice,
            target: address(target),
            value: 1 ether,
            data: abi.encodeCall(MessageTarget.ping, (7))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 0);
        target.setFailing(true);
        vm.expectRevert(abi.encodeWithSelector(MessageTarget.Boom.selector, 7));
        relay(b, ms[0], proof);
        vm.assertFalse(layer.relayed(msgHash(ms[0])), "not marked");

        target.setFailing(false);
        relay(b, ms[0], proof);
        vm.assertEq(target.x(), 7, "relayed later");
        vm.assertTrue(layer.relayed(msgHash(ms[0])), "marked");
    }

    function test_Relay_TargetRejectingEthRevertsWithoutData() public {
        Message[] memory ms = new Message[](1);
        ms[0] = withdrawal(1, address(new RejectsEth()), 1 ether);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.MessageCallFailed.selector, msgHash(ms[0])));
        relay(b, ms[0], MessageTree.proof(leavesOf(ms), 0));
    }

    function test_RevertWhen_RelayTwice() public {
        Message[] memory ms = withdrawals(3);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 1);
        relay(b, ms[1], proof);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyRelayed.selector, msgHash(ms[1])));
        relay(b, ms[1], proof);
    }

    function test_RevertWhen_RelayReentered() public {
        Reenterer r = new Reenterer(layer);
        Message[] memory ms = new Message[](1);
        ms[0] = Message({nonce: 1, sender: l2Alice, target: address(r), value: 0, data: ""});
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 0);
        r.arm(b, ms[0].nonce, ms[0].sender, proof);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        relay(b, ms[0], proof);
    }

    function test_RevertWhen_RelayBadProof() public {
        Message[] memory ms = withdrawals(5);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory leaves = leavesOf(ms);
        // proof of another leaf
        bytes32[] memory proof = MessageTree.proof(leaves, 2);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidMessageProof.selector, msgHash(ms[1])));
        relay(b, ms[1], proof);
        // tampered value with the right proof
        proof = MessageTree.proof(leaves, 1);
        Message memory m = ms[1];
        m.value += 1;
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidMessageProof.selector, msgHash(m)));
        relay(b, m, proof);
        // empty proof
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidMessageProof.selector, msgHash(ms[0])));
        relay(b, ms[0], new bytes32[](0));
    }

    function test_RevertWhen_RelayAgainstOtherBatch() public {
        Message[] memory ms = withdrawals(2);
        submit(nextBatch(2)); // batch 1: no messages
        uint64 b = submitWithMessages(ms); // batch 2
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 0);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidMessageProof.selector, msgHash(ms[0])));
        relay(b - 1, ms[0], proof);
        relay(b, ms[0], proof);
    }

    function test_RevertWhen_RelayBeforeChallengeWindow() public {
        Message[] memory ms = withdrawals(1);
        vm.warp(1_000_000);
        uint64 b = submitWithMessages(ms);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 0);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChallengeWindowOpen.selector, b, 1_000_000 + WINDOW));
        relay(b, ms[0], proof);
        vm.warp(1_000_000 + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChallengeWindowOpen.selector, b, 1_000_000 + WINDOW));
        relay(b, ms[0], proof);
        vm.warp(1_000_000 + WINDOW);
        relay(b, ms[0], proof);
    }

    function test_RevertWhen_RelayUnknownBatch() public {
        Message[] memory ms = withdrawals(1);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 0);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UnknownBatch.selector, b + 1));
        relay(b + 1, ms[0], proof);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UnknownBatch.selector, 0));
        relay(0, ms[0], proof);
    }

    function test_RevertWhen_RelayTargetsLayer() public {
        Message[] memory ms = new Message[](1);
        ms[0] = Message({
            nonce: 1,
            sender: l2Alice,
            target: address(layer),
            value: 0,
            data: abi.encodeCall(FlashLayer.deposit, (l2Alice))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(FlashLayer.TargetIsLayer.selector);
        relay(b, ms[0], MessageTree.proof(leavesOf(ms), 0));
    }

    function test_RevertWhen_RelayExceedsBalance() public {
        Message[] memory ms = new Message[](1);
        ms[0] = withdrawal(1, makeAddr("greedy"), 101 ether);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InsufficientBalance.selector, 101 ether, 100 ether));
        relay(b, ms[0], MessageTree.proof(leavesOf(ms), 0));
    }
}

contract RejectsEth {}

/// Tries to relay its own message again from inside the relay call.
contract Reenterer {
    FlashLayer internal immutable layer;
    uint64 internal batchIndex;
    uint256 internal nonce;
    address internal sender;
    bytes32[] internal proof;

    constructor(FlashLayer l) {
        layer = l;
    }

    function arm(uint64 b, uint256 n, address s, bytes32[] calldata p) external {
        (batchIndex, nonce, sender, proof) = (b, n, s, p);
    }

    receive() external payable {
        layer.relayMessage(batchIndex, nonce, sender, address(this), 0, "", proof);
    }
}

// ====================================================================== gas

/// Gas figures for contracts/README.md: `forge test --match-contract FlashLayerGasTest -vv` prints the
/// execution gas of each measured call; `--gas-report --isolate` gives full transaction gas.
contract FlashLayerGasTest is LayerTestBase {
    function _measureSubmit(FlashLayer l, uint256[] memory ks, uint256 count, string memory label_) internal {
        // settle one batch first so the measured one is a typical (not the first) batch
        FlashLayer.Batch memory b = nextBatch(l, 10);
        l.submitBatch(b, sigsFirst(ks, count, l.batchDigest(b)));
        b = nextBatch(l, 10);
        b.messagesRoot = keccak256("some messages");
        bytes[] memory sigs = sigsFirst(ks, count, l.batchDigest(b));
        uint256 g = gasleft();
        l.submitBatch(b, sigs);
        logUint(label_, g - gasleft());
    }

    function test_gas_submitBatch_3of4() public {
        _measureSubmit(layer, keys, 3, "submitBatch 3 of 4");
    }

    function test_gas_submitBatch_4of4() public {
        _measureSubmit(layer, keys, 4, "submitBatch 4 of 4");
    }

    function test_gas_submitBatch_7of10() public {
        (uint256[] memory ks, address[] memory as_) = sortedKeys("ten", 10);
        _measureSubmit(new FlashLayer(as_, 7, GENESIS, WINDOW, 0, 0), ks, 7, "submitBatch 7 of 10");
    }

    function test_gas_submitBatch_10of10() public {
        (uint256[] memory ks, address[] memory as_) = sortedKeys("ten", 10);
        _measureSubmit(new FlashLayer(as_, 7, GENESIS, WINDOW, 0, 0), ks, 10, "submitBatch 10 of 10");
    }

    function test_gas_deposit() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 2 ether);
        vm.startPrank(alice);
        layer.deposit{value: 1 ether}(alice);
        uint256 g = gasleft();
        layer.deposit{value: 1 ether}(alice);
        logUint("deposit", g - gasleft());
        vm.stopPrank();
    }

    function test_gas_relayWithdrawal() public {
        vm.deal(address(this), 10 ether);
        layer.deposit{value: 10 ether}(address(this));
        Message[] memory ms = new Message[](5);
        for (uint256 i = 0; i < 5; ++i) {
            ms[i] = Message({
                nonce: i + 1,
                sender: makeAddr(string.concat("gas sender ", vm.toString(i))),
                target: makeAddr(string.concat("gas recipient ", vm.toString(i))),
                value: 1 ether,
                data: ""
            });
        }
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leavesOf(ms), 1);
        uint256 g = gasleft();
        relay(b, ms[1], proof);
        logUint("relayMessage (ETH withdrawal, 5-leaf tree)", g - gasleft());
    }

    /// A final batch (3 of 4) after a first batch, like `_measureSubmit`.
    function test_gas_settle() public {
        submit(nextBatch(10));
        FlashLayer.Batch memory b = nextBatch(10);
        b.messagesRoot = keccak256("some messages");
        bytes32 root = keccak256("balances");
        bytes[] memory sigs = sigsFirst(keys, 3, layer.finalBatchDigest(b, root));
        uint256 g = gasleft();
        layer.settle(b, root, sigs);
        logUint("settle 3 of 4", g - gasleft());
    }

    /// A claim from an 8-account balances tree (3 proof elements) to a fresh account.
    function test_gas_claim() public {
        vm.deal(address(this), 8 ether);
        layer.deposit{value: 8 ether}(address(this));
        bytes32[] memory leaves = new bytes32[](8);
        for (uint256 i = 0; i < 8; ++i) {
            leaves[i] = layer.balanceLeaf(makeAddr(string.concat("gas account ", vm.toString(i))), 1 ether);
        }
        FlashLayer.Batch memory b = nextBatch(10);
        b.lastDepositNonce = 1;
        bytes32 root = MessageTree.root(leaves);
        layer.settle(b, root, sigsFirst(keys, 3, layer.finalBatchDigest(b, root)));
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(leaves, 5);
        address account = makeAddr("gas account 5");
        uint256 g = gasleft();
        layer.claim(account, 1 ether, proof);
        logUint("claim (8-leaf tree, fresh account)", g - gasleft());
    }

    function test_gas_refundDeposit() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        FlashLayer.Batch memory b = nextBatch(10);
        bytes32 root = keccak256("balances");
        layer.settle(b, root, sigsFirst(keys, 3, layer.finalBatchDigest(b, root)));
        uint256 g = gasleft();
        layer.refundDeposit(1, alice, alice, 1 ether);
        logUint("refundDeposit", g - gasleft());
    }

    /// A signer-set update adding a fifth member (threshold 4), signed 3 of 4 by the current set.
    function test_gas_updateSigners_4to5() public {
        (, address[] memory next) = sortedKeys("signer", 5); // the fixture's 4 signers + one
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, next, 4));
        uint256 g = gasleft();
        layer.updateSigners(next, 4, sigs);
        logUint("updateSigners 4 -> 5, 3 of 4", g - gasleft());
    }

    function test_gas_requestJoin() public {
        address op = makeAddr("gas operator");
        vm.prank(op);
        uint256 g = gasleft();
        layer.requestJoin(keccak256("consensus key"));
        logUint("requestJoin", g - gasleft());
    }

    /// The layer's first membership change (its nonce slot goes from zero to nonzero).
    function test_gas_approveJoin_first() public {
        address op = makeAddr("gas operator");
        vm.prank(op);
        layer.requestJoin(keccak256("consensus key"));
        uint256 g = gasleft();
        layer.approveJoin(op);
        logUint("approveJoin (first change)", g - gasleft());
    }

    /// A later membership change.
    function test_gas_approveJoin_later() public {
        layer.requestLeave(addrs[3]);
        address op = makeAddr("gas operator");
        vm.prank(op);
        layer.requestJoin(keccak256("consensus key"));
        uint256 g = gasleft();
        layer.approveJoin(op);
        logUint("approveJoin (later change)", g - gasleft());
    }

    /// A member announces its own leave, the layer's first membership change.
    function test_gas_requestLeave_first() public {
        vm.prank(addrs[0]);
        uint256 g = gasleft();
        layer.requestLeave(addrs[0]);
        logUint("requestLeave (first change)", g - gasleft());
    }

    /// A member announces its own leave after an earlier change.
    function test_gas_requestLeave_later() public {
        layer.requestLeave(addrs[3]);
        vm.prank(addrs[0]);
        uint256 g = gasleft();
        layer.requestLeave(addrs[0]);
        logUint("requestLeave (later change)", g - gasleft());
    }
}
