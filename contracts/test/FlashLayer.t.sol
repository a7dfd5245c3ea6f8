// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase, MessageTarget} from "./utils/LayerTestBase.sol";
import {FlashLayer, MessageForwarder} from "../src/FlashLayer.sol";
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
        vm.assertEq(layer.depositsHash(0), bytes32(0), "running deposits hash starts at zero");
        vm.assertEq(uint256(layer.membershipDelay()), WINDOW, "membership delay = challenge window");
        vm.assertEq(layer.maxPendingChanges(), 1, "4 signers: one pending change at a time");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 0, "no change applied");
        bytes32[] memory ks = ckeys(addrs);
        for (uint256 i = 0; i < addrs.length; ++i) {
            vm.assertEq(layer.consensusKeyOf(addrs[i]), ks[i], "initial member's consensus key");
            vm.assertEq(layer.operatorOfKey(ks[i]), addrs[i], "key owned by the initial member");
        }
        MessageForwarder f = layer.forwarder();
        vm.assertTrue(address(f).code.length > 0, "forwarder deployed");
        vm.assertEq(f.layer(), address(layer), "forwarder serves this layer");
        vm.assertEq(f.l2Sender(), address(0), "forwarder l2Sender outside a relay");
        vm.assertEq(address(f).balance, 0, "forwarder holds nothing");

        FlashLayer.BatchRecord memory g = layer.batch(0);
        vm.assertEq(g.batchHash, bytes32(0), "genesis record hash");
        vm.assertEq(g.lastBlockHash, GENESIS, "genesis record block hash");
        vm.assertEq(uint256(g.lastBlock), 0, "genesis record lastBlock");
        vm.assertEq(uint256(g.acceptedAt), block.timestamp, "genesis record acceptedAt");
    }

    function test_ConstructorEmitsInitialSignerSet() public {
        vm.expectEmit(true, false, false, true);
        emit FlashLayer.SignerSetUpdated(0, addrs, 3);
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
    }

    function test_Constants() public view {
        vm.assertEq(layer.EMPTY_MESSAGES_ROOT(), keccak256(""), "empty root");
        vm.assertEq(
            layer.BATCH_TYPEHASH(),
            keccak256(
                "Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce,bytes32 depositsHash)"
            ),
            "batch typehash"
        );
        vm.assertEq(
            layer.SIGNER_SET_UPDATE_TYPEHASH(),
            keccak256(
                "SignerSetUpdate(uint64 epoch,uint64 afterBatch,uint64 membershipNonce,address[] signers,uint256 threshold)"
            ),
            "signer set typehash"
        );
    }

    function test_DomainSeparatorByHand() public view {
        vm.assertEq(layer.domainSeparator(), domainOf(block.chainid, address(layer)), "domain separator");
    }

    function test_BatchHashAndDigestByHand() public view {
        FlashLayer.Batch memory b = makeBatch(7, keccak256("prev"), 100, 120);
        credit(b, 9);
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
                b.lastDepositNonce,
                b.depositsHash
            )
        );
        vm.assertEq(layer.batchHash(b), structHash, "struct hash");
        vm.assertEq(layer.batchDigest(b), typedDigest(layer.domainSeparator(), structHash), "digest");
    }

    /// Cross-check against forge's own (alloy) EIP-712 implementation from a JSON typed-data document.
    function test_BatchDigestMatchesEip712Json() public view {
        FlashLayer.Batch memory b = makeBatch(7, keccak256("prev"), 100, 120);
        credit(b, 9);
        string memory json = string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"Batch":[{"name":"index","type":"uint64"},{"name":"prevBatchHash","type":"bytes32"},',
            '{"name":"firstBlock","type":"uint64"},{"name":"lastBlock","type":"uint64"},',
            '{"name":"lastBlockHash","type":"bytes32"},{"name":"stateRoot","type":"bytes32"},',
            '{"name":"txDataHash","type":"bytes32"},{"name":"messagesRoot","type":"bytes32"},',
            '{"name":"lastDepositNonce","type":"uint64"},{"name":"depositsHash","type":"bytes32"}]},',
            '"primaryType":"Batch",',
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
            '","lastDepositNonce":9,"depositsHash":"',
            vm.toString(b.depositsHash),
            '"}}'
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
            '"SignerSetUpdate":[{"name":"epoch","type":"uint64"},{"name":"afterBatch","type":"uint64"},',
            '{"name":"membershipNonce","type":"uint64"},{"name":"signers","type":"address[]"},',
            '{"name":"threshold","type":"uint256"}]},"primaryType":"SignerSetUpdate",',
            _domainJson(),
            ',"message":{"epoch":5,"afterBatch":7,"membershipNonce":2,"signers":',
            list,
            ',"threshold":3}}'
        );
        vm.assertEq(
            vm.eip712HashTypedData(json),
            layer.signerSetUpdateDigest(5, 7, 2, addrs, 3),
            "digest vs eip712HashTypedData"
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
        new FlashLayer(addrs, 2, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
    }

    function test_RevertWhen_ThresholdZero() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 0, 4));
        new FlashLayer(addrs, 0, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
    }

    function test_RevertWhen_ThresholdAboveSignerCount() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 5, 4));
        new FlashLayer(addrs, 5, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
    }

    function test_ThresholdBoundaries() public {
        // n = 1, 3, 4, 7, 10: smallest threshold above 2/3 accepted, one less rejected
        uint256[5] memory ns = [uint256(1), 3, 4, 7, 10];
        uint256[5] memory ts = [uint256(1), 3, 3, 5, 7];
        for (uint256 k = 0; k < ns.length; ++k) {
            (, address[] memory set) = sortedKeys("boundary", ns[k]);
            new FlashLayer(set, ts[k], GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
            new FlashLayer(set, ns[k], GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
            vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, ts[k] - 1, ns[k]));
            new FlashLayer(set, ts[k] - 1, GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
        }
    }

    /// A third of the set (rounded down, at least one) may wait unapplied at once.
    function test_MaxPendingChangesBySetSize() public {
        uint256[6] memory ns = [uint256(1), 3, 4, 7, 10, 13];
        uint256[6] memory ms = [uint256(1), 1, 1, 2, 3, 4];
        for (uint256 k = 0; k < ns.length; ++k) {
            (, address[] memory set) = sortedKeys("pending", ns[k]);
            FlashLayer l = new FlashLayer(set, set.length, GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
            vm.assertEq(l.maxPendingChanges(), ms[k], "maxPendingChanges");
        }
    }

    function test_RevertWhen_ConsensusKeysCountMismatch() public {
        bytes32[] memory three = new bytes32[](3);
        bytes32[] memory all = ckeys(addrs);
        (three[0], three[1], three[2]) = (all[0], all[1], all[2]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeysMismatch.selector, 3, 4));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, three, 0, recourse());
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeysMismatch.selector, 0, 4));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, new bytes32[](0), 0, recourse());
    }

    function test_RevertWhen_ConsensusKeyZero() public {
        bytes32[] memory ks = ckeys(addrs);
        ks[2] = bytes32(0);
        vm.expectRevert(FlashLayer.ZeroConsensusKey.selector);
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ks, 0, recourse());
    }

    /// Two initial members cannot share a consensus key (a later leave of one would remove the
    /// other from the validator set).
    function test_RevertWhen_ConsensusKeysDuplicated() public {
        bytes32[] memory ks = ckeys(addrs);
        ks[3] = ks[1];
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ConsensusKeyInUse.selector, ks[1], addrs[1]));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ks, 0, recourse());
    }

    function test_RevertWhen_SignersUnsorted() public {
        address[] memory set = _copy(addrs);
        (set[1], set[2]) = (set[2], set[1]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignerSetNotSorted.selector, 2));
        new FlashLayer(set, 3, GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
    }

    function test_RevertWhen_SignersDuplicated() public {
        address[] memory set = _copy(addrs);
        set[3] = set[2];
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignerSetNotSorted.selector, 3));
        new FlashLayer(set, 3, GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
    }

    function test_RevertWhen_SignerZeroAddress() public {
        address[] memory set = _copy(addrs);
        set[0] = address(0);
        vm.expectRevert(FlashLayer.ZeroSignerAddress.selector);
        new FlashLayer(set, 3, GENESIS, WINDOW, 0, 0, ckeys(set), 0, recourse());
    }

    function test_RevertWhen_SignerSetEmpty() public {
        vm.expectRevert(FlashLayer.EmptySignerSet.selector);
        new FlashLayer(new address[](0), 0, GENESIS, WINDOW, 0, 0, ckeys(new address[](0)), 0, recourse());
    }

    function test_RevertWhen_GenesisHashZero() public {
        vm.expectRevert(FlashLayer.ZeroGenesisHash.selector);
        new FlashLayer(addrs, 3, bytes32(0), WINDOW, 0, 0, ckeys(addrs), 0, recourse());
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
        // a layer deployed now (the default one dates from timestamp 1: its grace ran out long ago)
        layer = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        FlashLayer.Batch memory b = nextBatch(10);
        bytes32 h = layer.batchHash(b);
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.BatchAccepted(1, h, 1, 10, b.lastBlockHash, b.stateRoot, b.messagesRoot, b.txDataHash);
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
        credit(b, 1);
        submit(b);
        b = nextBatch(2);
        credit(b, 1); // unchanged is fine
        submit(b);
        b = nextBatch(2);
        credit(b, 2);
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
        credit(b, 2);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DepositNonceOutOfRange.selector, 2, 0, 1));
        layer.submitBatch(b, sigs);
    }

    /// The batch must state the running hash of the deposits it credits, not just their count.
    function test_RevertWhen_WrongDepositsHash() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 2 ether);
        vm.startPrank(alice);
        layer.deposit{value: 1 ether}(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.stopPrank();
        FlashLayer.Batch memory b = nextBatch(1);
        b.lastDepositNonce = 2;
        b.depositsHash = layer.depositsHash(1); // the hash of another nonce
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(
            abi.encodeWithSelector(FlashLayer.WrongDepositsHash.selector, layer.depositsHash(2), layer.depositsHash(1))
        );
        layer.submitBatch(b, sigs);
        // crediting nothing: the hash must be zero
        b = nextBatch(1);
        b.depositsHash = keccak256("anything");
        sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongDepositsHash.selector, bytes32(0), b.depositsHash));
        layer.submitBatch(b, sigs);
        credit(b, 2);
        submit(b);
        vm.assertEq(uint256(layer.batch(1).lastDepositNonce), 2, "accepted with the right hash");
    }

    function test_RevertWhen_DepositNonceGoesBack() public {
        address alice = makeAddr("alice");
        vm.deal(alice, 2 ether);
        vm.startPrank(alice);
        layer.deposit{value: 1 ether}(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.stopPrank();
        FlashLayer.Batch memory b = nextBatch(1);
        credit(b, 2);
        submit(b);
        b = nextBatch(1);
        credit(b, 1);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DepositNonceOutOfRange.selector, 1, 2, 2));
        layer.submitBatch(b, sigs);
    }
}

// ====================================================================== signer set changes

contract FlashLayerSignerSetTest is LayerTestBase {
    uint256 internal joinerKey;
    address internal joiner;
    /// The fixture set with `joiner` added (sorted), what the announced join makes.
    address[] internal next;

    function setUp() public override {
        super.setUp();
        joinerKey = uint256(keccak256("joiner")) % (SECP256K1_N - 1) + 1;
        joiner = vm.addr(joinerKey);
        vm.prank(joiner);
        layer.requestJoin(keccak256("joiner consensus key"), new bytes(64));
        layer.approveJoin(joiner);
        vm.warp(block.timestamp + layer.membershipDelay());
        next = plus(addrs, joiner);
    }

    function digest(uint64 epoch_, address[] memory set, uint256 th) internal view returns (bytes32) {
        return layer.signerSetUpdateDigest(epoch_, layer.lastBatchIndex(), 1, set, th);
    }

    function test_UpdateSigners() public {
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.SignerSetUpdated(1, next, 4);
        layer.updateSigners(next, 4, 0, sigsFirst(keys, 3, digest(1, next, 4)));

        vm.assertEq(uint256(layer.epoch()), 1, "epoch");
        vm.assertEq(layer.threshold(), 4, "threshold");
        vm.assertEq(layer.signers(), next, "signers");
        vm.assertEq(uint256(layer.appliedMembershipNonce()), 1, "applied change");
        for (uint256 i = 0; i < 5; ++i) {
            vm.assertTrue(layer.isSigner(next[i]), "member");
        }
        // the new set settles batches with its own threshold
        FlashLayer.Batch memory b = nextBatch(3);
        bytes32 bd = layer.batchDigest(b);
        bytes[] memory three = sigsFirst(keys, 3, bd);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 3, 4));
        layer.submitBatch(b, three);
        // signatures of the four lowest members of the new set, in ascending order
        bytes[] memory four = new bytes[](4);
        for (uint256 i = 0; i < 4; ++i) {
            four[i] = sig(next[i] == joiner ? joinerKey : keyOfFixture(next[i]), bd);
        }
        layer.submitBatch(b, four);
    }

    function keyOfFixture(address a) internal view returns (uint256) {
        for (uint256 i = 0; i < 4; ++i) {
            if (addrs[i] == a) return keys[i];
        }
        revert("not a fixture signer");
    }

    /// The update may follow later batches too: it names the last accepted one.
    function test_UpdateSignersAfterLaterBatches() public {
        submit(nextBatch(3));
        submit(nextBatch(3));
        layer.updateSigners(next, 4, 2, sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 2, 1, next, 4)));
        vm.assertEq(layer.signers(), next, "signers");
    }

    function test_RevertWhen_UpdateSignedByNewcomer() public {
        bytes[] memory sigs = new bytes[](3);
        sigs[0] = sig(joinerKey, digest(1, next, 4));
        sigs[1] = sigs[0];
        sigs[2] = sigs[0];
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, joiner));
        layer.updateSigners(next, 4, 0, sigs);
    }

    function test_RevertWhen_UpdateBelowThreshold() public {
        bytes[] memory sigs = sigsFirst(keys, 2, digest(1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 2, 3));
        layer.updateSigners(next, 4, 0, sigs);
    }

    function test_RevertWhen_UpdateSignedForWrongEpoch() public {
        bytes[] memory sigs = sigsFirst(keys, 3, digest(2, next, 4)); // epoch must be current + 1 = 1
        address recovered = recoverRaw(digest(1, next, 4), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.updateSigners(next, 4, 0, sigs);
    }

    /// Signatures name the batch they follow and the change they apply: over another batch or
    /// change they recover to someone else.
    function test_RevertWhen_UpdateSignedForOtherBatchOrChange() public {
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 1, 1, next, 4));
        address recovered = recoverRaw(digest(1, next, 4), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.updateSigners(next, 4, 0, sigs);
        sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 0, 2, next, 4));
        recovered = recoverRaw(digest(1, next, 4), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.updateSigners(next, 4, 0, sigs);
    }

    function test_RevertWhen_UpdateReplayed() public {
        bytes[] memory sigs = sigsFirst(keys, 4, digest(1, next, 4));
        layer.updateSigners(next, 4, 0, sigs);
        vm.expectRevert(FlashLayer.NoPendingChange.selector);
        layer.updateSigners(next, 4, 0, sigs);
    }

    function test_RevertWhen_UpdateWithoutAnnouncedChange() public {
        FlashLayer l = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        bytes[] memory sigs = sigsFirst(keys, 4, l.signerSetUpdateDigest(1, 0, 1, next, 4));
        vm.expectRevert(FlashLayer.NoPendingChange.selector);
        l.updateSigners(next, 4, 0, sigs);
        // not even the same set with another threshold
        sigs = sigsFirst(keys, 4, l.signerSetUpdateDigest(1, 0, 1, addrs, 4));
        vm.expectRevert(FlashLayer.NoPendingChange.selector);
        l.updateSigners(addrs, 4, 0, sigs);
    }

    function test_RevertWhen_UpdateBeforeChangeIsDue() public {
        FlashLayer l = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        vm.prank(joiner);
        l.requestJoin(keccak256("joiner consensus key 2"), new bytes(64));
        l.approveJoin(joiner);
        uint64 due = uint64(block.timestamp) + WINDOW;
        vm.assertEq(uint256(l.membershipChange(1).effectiveAt), due, "effectiveAt");
        bytes[] memory sigs = sigsFirst(keys, 3, l.signerSetUpdateDigest(1, 0, 1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChangeNotDue.selector, 1, due));
        l.updateSigners(next, 4, 0, sigs);
        vm.warp(due - 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChangeNotDue.selector, 1, due));
        l.updateSigners(next, 4, 0, sigs);
        vm.warp(due);
        l.updateSigners(next, 4, 0, sigs);
        vm.assertTrue(l.isSigner(joiner), "applied once due");
    }

    function test_RevertWhen_UpdateNotAfterLastBatch() public {
        submit(nextBatch(3));
        // signed as following batch 0 (or a batch not yet accepted)
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 0, 1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UpdateNotAfterBatch.selector, 1, 0));
        layer.updateSigners(next, 4, 0, sigs);
        sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 2, 1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UpdateNotAfterBatch.selector, 1, 2));
        layer.updateSigners(next, 4, 2, sigs);
    }

    /// The new set must be the current one with exactly the announced operator added.
    function test_RevertWhen_UpdateDoesNotApplyTheChange() public {
        (, address[] memory others) = sortedKeys("other", 1);
        // the current set unchanged (threshold 4 for the check order: the set is valid)
        bytes[] memory sigs = sigsFirst(keys, 3, digest(1, addrs, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(addrs, 4, 0, sigs);
        // another operator added instead of the joiner
        address[] memory wrong = _with(addrs, others[0]);
        sigs = sigsFirst(keys, 3, digest(1, wrong, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(wrong, 4, 0, sigs);
        // the joiner added and a member swapped for someone else
        wrong = _copy(next);
        uint256 swap = next[0] == joiner ? 1 : 0;
        wrong[swap] = others[0];
        wrong = _sorted(wrong);
        sigs = sigsFirst(keys, 3, digest(1, wrong, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(wrong, 4, 0, sigs);
        // the joiner plus one more
        wrong = _with(next, others[0]);
        sigs = sigsFirst(keys, 3, digest(1, wrong, 5));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(wrong, 5, 0, sigs);
        // a member removed
        address[] memory three = new address[](3);
        (three[0], three[1], three[2]) = (addrs[0], addrs[1], addrs[2]);
        sigs = sigsFirst(keys, 3, digest(1, three, 3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SetDoesNotApplyChange.selector, 1));
        layer.updateSigners(three, 3, 0, sigs);
        vm.assertEq(uint256(layer.epoch()), 0, "nothing installed");
    }

    function test_RevertWhen_UpdateWithInvalidThreshold() public {
        bytes[] memory sigs = sigsFirst(keys, 3, digest(1, next, 3));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidThreshold.selector, 3, 5));
        layer.updateSigners(next, 3, 0, sigs);
    }

    function test_RevertWhen_UpdateWithUnsortedSet() public {
        (next[0], next[4]) = (next[4], next[0]);
        bytes[] memory sigs = sigsFirst(keys, 3, digest(1, next, 4));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.SignerSetNotSorted.selector, 1));
        layer.updateSigners(next, 4, 0, sigs);
    }

    function test_RevertWhen_UpdateWithEmptySet() public {
        address[] memory none = new address[](0);
        bytes[] memory sigs = sigsFirst(keys, 3, digest(1, none, 0));
        vm.expectRevert(FlashLayer.EmptySignerSet.selector);
        layer.updateSigners(none, 0, 0, sigs);
    }

    function _copy(address[] memory a) internal pure returns (address[] memory c) {
        c = new address[](a.length);
        for (uint256 i = 0; i < a.length; ++i) {
            c[i] = a[i];
        }
    }

    function _sorted(address[] memory a) internal pure returns (address[] memory) {
        for (uint256 i = 1; i < a.length; ++i) {
            for (uint256 j = i; j > 0 && a[j - 1] > a[j]; --j) {
                (a[j - 1], a[j]) = (a[j], a[j - 1]);
            }
        }
        return a;
    }

    function _with(address[] memory a, address x) internal pure returns (address[] memory c) {
        c = new address[](a.length + 1);
        for (uint256 i = 0; i < a.length; ++i) {
            c[i] = a[i];
        }
        c[a.length] = x;
        return _sorted(c);
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
        // the running hash over the deposits' content
        bytes32 h1 = keccak256(abi.encode(bytes32(0), alice, bob, 1 ether));
        vm.assertEq(layer.depositsHash(1), h1, "depositsHash(1)");
        vm.assertEq(layer.depositsHash(2), keccak256(abi.encode(h1, alice, alice, 2 wei)), "depositsHash(2)");
        vm.assertEq(layer.depositsHash(3), bytes32(0), "no deposit 3 yet");
    }

    /// The L2MessagePasser's balance is not in the final balances: ETH deposited to it would be
    /// locked forever.
    function test_RevertWhen_DepositToMessagePasser() public {
        address passer = layer.L2_MESSAGE_PASSER();
        vm.assertEq(passer, 0xf1A5000000000000000000000000000000000001, "the Rust side's L2_MESSAGE_PASSER");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.RecipientIsSystemContract.selector, passer));
        vm.prank(alice);
        layer.deposit{value: 1 ether}(passer);
        vm.assertEq(uint256(layer.depositCount()), 0, "no deposit");
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
        vm.assertEq(target.caller(), address(layer.forwarder()), "msg.sender is the layer's forwarder");
        vm.assertEq(target.l2Sender(), l2Alice, "l2Sender during the call (from the forwarder)");
        vm.assertEq(target.received(), 0.25 ether, "value");
        vm.assertEq(layer.l2Sender(), address(0), "l2Sender cleared");
        vm.assertEq(layer.forwarder().l2Sender(), address(0), "forwarder l2Sender cleared");
        vm.assertEq(address(layer.forwarder()).balance, 0, "the forwarder keeps nothing");
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

    function test_RevertWhen_RelayTargetsForwarder() public {
        address fwd = address(layer.forwarder());
        Message[] memory ms = new Message[](1);
        ms[0] = Message({
            nonce: 1,
            sender: l2Alice,
            target: fwd,
            value: 1 ether,
            data: abi.encodeCall(MessageForwarder.forward, (l2Alice, l2Alice, ""))
        });
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(FlashLayer.TargetIsLayer.selector);
        relay(b, ms[0], MessageTree.proof(leavesOf(ms), 0));
    }

    /// Only the layer makes the forwarder call out.
    function test_RevertWhen_ForwarderCalledByOthers() public {
        MessageForwarder fwd = layer.forwarder();
        vm.deal(l2Alice, 1 ether);
        vm.prank(l2Alice);
        vm.expectRevert(abi.encodeWithSelector(MessageForwarder.NotLayer.selector, l2Alice));
        fwd.forward{value: 1 ether}(address(target), l2Alice, abi.encodeCall(MessageTarget.ping, (1)));
        vm.expectRevert(abi.encodeWithSelector(MessageForwarder.NotLayer.selector, address(this)));
        fwd.forward(address(target), l2Alice, abi.encodeCall(MessageTarget.ping, (1)));
        vm.assertEq(target.x(), 0, "target not called");
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
        _measureSubmit(
            new FlashLayer(as_, 7, GENESIS, WINDOW, 0, 0, ckeys(as_), 0, recourse()), ks, 7, "submitBatch 7 of 10"
        );
    }

    function test_gas_submitBatch_10of10() public {
        (uint256[] memory ks, address[] memory as_) = sortedKeys("ten", 10);
        _measureSubmit(
            new FlashLayer(as_, 7, GENESIS, WINDOW, 0, 0, ckeys(as_), 0, recourse()), ks, 10, "submitBatch 10 of 10"
        );
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

    /// An ETH withdrawal from a 1-leaf tree (empty proof) to `to`.
    function _measureRelay1Leaf(address to, string memory label_) internal {
        vm.deal(address(this), 10 ether);
        layer.deposit{value: 10 ether}(address(this));
        Message[] memory ms = new Message[](1);
        ms[0] = Message({nonce: 1, sender: makeAddr("gas sender"), target: to, value: 1 ether, data: ""});
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = new bytes32[](0);
        uint256 g = gasleft();
        relay(b, ms[0], proof);
        logUint(label_, g - gasleft());
    }

    function test_gas_relayWithdrawal_1leaf_existingAccount() public {
        address to = makeAddr("gas recipient");
        vm.deal(to, 1 wei);
        _measureRelay1Leaf(to, "relayMessage (ETH withdrawal, 1-leaf tree, existing account)");
    }

    function test_gas_relayWithdrawal_1leaf_freshAccount() public {
        _measureRelay1Leaf(makeAddr("gas recipient"), "relayMessage (ETH withdrawal, 1-leaf tree, fresh account)");
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
        credit(b, 1);
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
        vm.warp(block.timestamp + WINDOW);
        uint256 g = gasleft();
        layer.refundDeposit(1, alice, alice, 1 ether);
        logUint("refundDeposit", g - gasleft());
    }

    /// A signer-set update adding a fifth member (threshold 4), signed 3 of 4 by the current set.
    function test_gas_updateSigners_4to5() public {
        (uint256[] memory ks, address[] memory next) = sortedKeys("signer", 5); // the fixture's 4 + one
        address joiner;
        for (uint256 i = 0; i < 5; ++i) {
            if (!layer.isSigner(next[i])) joiner = next[i];
        }
        ks;
        vm.prank(joiner);
        layer.requestJoin(keccak256("joiner key"), new bytes(64));
        layer.approveJoin(joiner);
        vm.warp(block.timestamp + layer.membershipDelay());
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 0, 1, next, 4));
        uint256 g = gasleft();
        layer.updateSigners(next, 4, 0, sigs);
        logUint("updateSigners 4 -> 5, 3 of 4", g - gasleft());
    }

    function test_gas_requestJoin() public {
        address op = makeAddr("gas operator");
        bytes memory proof = abi.encodePacked(keccak256("r"), keccak256("s")); // a real proof's size, nonzero
        vm.prank(op);
        uint256 g = gasleft();
        layer.requestJoin(keccak256("consensus key"), proof);
        logUint("requestJoin", g - gasleft());
    }

    /// The layer's first membership change (its nonce slot goes from zero to nonzero).
    function test_gas_approveJoin_first() public {
        address op = makeAddr("gas operator");
        vm.prank(op);
        layer.requestJoin(keccak256("consensus key"), new bytes(64));
        uint256 g = gasleft();
        layer.approveJoin(op);
        logUint("approveJoin (first change)", g - gasleft());
    }

    /// Applies a first membership change (the leave of `addrs[3]`), so that the next one is a later
    /// change (the nonce slots are nonzero).
    function _applyFirstChange() internal {
        layer.requestLeave(addrs[3]);
        vm.warp(block.timestamp + layer.membershipDelay());
        address[] memory three = new address[](3);
        (three[0], three[1], three[2]) = (addrs[0], addrs[1], addrs[2]);
        layer.updateSigners(three, 3, 0, sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 0, 1, three, 3)));
    }

    /// A later membership change (after an applied one).
    function test_gas_approveJoin_later() public {
        _applyFirstChange();
        address op = makeAddr("gas operator");
        vm.prank(op);
        layer.requestJoin(keccak256("consensus key"), new bytes(64));
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

    /// A member announces its own leave after an earlier (applied) change.
    function test_gas_requestLeave_later() public {
        _applyFirstChange();
        vm.prank(addrs[0]);
        uint256 g = gasleft();
        layer.requestLeave(addrs[0]);
        logUint("requestLeave (later change)", g - gasleft());
    }
}

// ====================================================================== data availability

contract FlashLayerDataAvailabilityTest is LayerTestBase {
    /// A layer that posts batch data on L1.
    function calldataLayer() internal returns (FlashLayer l) {
        l = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 1, recourse());
    }

    function withData(FlashLayer l, bytes memory data) internal view returns (FlashLayer.Batch memory b) {
        b = nextBatch(l, 5);
        b.txDataHash = keccak256(data);
    }

    function test_CalldataLayerTakesBatchesOnlyWithTheirData() public {
        FlashLayer l = calldataLayer();
        vm.assertEq(uint256(l.dataAvailability()), uint256(l.DA_L1_CALLDATA()), "mode");
        bytes memory data = hex"01deadbeef";
        FlashLayer.Batch memory b = withData(l, data);
        bytes[] memory sigs = sigsFirst(keys, 3, l.batchDigest(b));
        vm.expectRevert(FlashLayer.DataRequired.selector);
        l.submitBatch(b, sigs);
        vm.expectRevert(
            abi.encodeWithSelector(FlashLayer.WrongTxData.selector, b.txDataHash, keccak256(hex"01deadbeee"))
        );
        l.submitBatchWithData(b, sigs, hex"01deadbeee");
        vm.expectEmit(true, true, false, true, address(l));
        emit FlashLayer.BatchAccepted(
            1, l.batchHash(b), b.firstBlock, b.lastBlock, b.lastBlockHash, b.stateRoot, b.messagesRoot, b.txDataHash
        );
        l.submitBatchWithData(b, sigs, data);
        vm.assertEq(uint256(l.lastBatchIndex()), 1, "accepted");
    }

    function test_CalldataLayerSettlesOnlyWithData() public {
        FlashLayer l = calldataLayer();
        bytes memory data = hex"01c0ffee";
        FlashLayer.Batch memory b = withData(l, data);
        bytes32 root = keccak256("balances");
        bytes[] memory sigs = sigsFirst(keys, 3, l.finalBatchDigest(b, root));
        vm.expectRevert(FlashLayer.DataRequired.selector);
        l.settle(b, root, sigs);
        l.settleWithData(b, root, sigs, data);
        vm.assertTrue(l.settled(), "settled");
    }

    function test_CommitteeLayerTakesDataToo() public {
        vm.assertEq(uint256(layer.dataAvailability()), uint256(layer.DA_COMMITTEE()), "default mode");
        bytes memory data = hex"01abcdef";
        FlashLayer.Batch memory b = withData(layer, data);
        layer.submitBatchWithData(b, sigsFirst(keys, 3, layer.batchDigest(b)), data);
        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "accepted");
    }

    function test_RevertWhen_UnknownDataAvailability() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.UnknownDataAvailability.selector, uint8(3)));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 3, recourse());
    }

    /// A layer whose batch data rides in blobs.
    function blobLayer() internal returns (FlashLayer l) {
        l = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 2, recourse());
    }

    function blobHashes(uint256 n, uint8 seed) internal pure returns (bytes32[] memory hashes) {
        hashes = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            // A versioned hash starts with the KZG version byte 0x01.
            hashes[i] = bytes32(uint256(keccak256(abi.encode(seed, i))) >> 8 | (uint256(1) << 248));
        }
    }

    function test_BlobLayerTakesBatchesOnlyWithTheirBlobs() public {
        FlashLayer l = blobLayer();
        vm.assertEq(uint256(l.dataAvailability()), uint256(l.DA_L1_BLOBS()), "mode");
        bytes32[] memory hashes = blobHashes(2, 1);
        FlashLayer.Batch memory b = nextBatch(l, 5);
        b.txDataHash = keccak256(abi.encodePacked(hashes));
        bytes[] memory sigs = sigsFirst(keys, 3, l.batchDigest(b));
        // No blobs: refused.
        vm.expectRevert(FlashLayer.DataRequired.selector);
        l.submitBatch(b, sigs);
        // Other blobs: refused.
        bytes32[] memory other = blobHashes(2, 2);
        vm.blobhashes(other);
        vm.expectRevert(
            abi.encodeWithSelector(FlashLayer.WrongTxData.selector, b.txDataHash, keccak256(abi.encodePacked(other)))
        );
        l.submitBatch(b, sigs);
        // One blob short: refused.
        bytes32[] memory first = new bytes32[](1);
        first[0] = hashes[0];
        vm.blobhashes(first);
        vm.expectRevert(
            abi.encodeWithSelector(FlashLayer.WrongTxData.selector, b.txDataHash, keccak256(abi.encodePacked(first)))
        );
        l.submitBatch(b, sigs);
        // Calldata cannot stand in for the blobs.
        vm.blobhashes(new bytes32[](0));
        vm.expectRevert();
        l.submitBatchWithData(b, sigs, abi.encodePacked(hashes));
        // The right blobs: accepted and recorded.
        vm.blobhashes(hashes);
        vm.expectEmit(true, false, false, true, address(l));
        emit FlashLayer.BatchBlobs(1, hashes);
        l.submitBatch(b, sigs);
        vm.assertEq(uint256(l.lastBatchIndex()), 1, "accepted");
        bytes32[] memory recorded = l.batchBlobHashes(1);
        vm.assertEq(recorded.length, 2, "recorded");
        vm.assertEq(recorded[0], hashes[0], "first blob");
        vm.assertEq(recorded[1], hashes[1], "second blob");
        vm.assertEq(layer.batchBlobHashes(1).length, 0, "a committee layer records none");
    }

    function test_BlobLayerSettlesOnlyWithBlobs() public {
        FlashLayer l = blobLayer();
        bytes32[] memory hashes = blobHashes(l.MAX_BATCH_BLOBS(), 3);
        FlashLayer.Batch memory b = nextBatch(l, 5);
        b.txDataHash = keccak256(abi.encodePacked(hashes));
        bytes32 root = keccak256("balances");
        bytes[] memory sigs = sigsFirst(keys, 3, l.finalBatchDigest(b, root));
        vm.expectRevert(FlashLayer.DataRequired.selector);
        l.settle(b, root, sigs);
        vm.blobhashes(hashes);
        l.settle(b, root, sigs);
        vm.assertTrue(l.settled(), "settled");
        vm.assertEq(l.batchBlobHashes(1).length, l.MAX_BATCH_BLOBS(), "every blob recorded");
    }
}
