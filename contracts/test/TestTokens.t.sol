// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {TestToken} from "../src/test/TestToken.sol";
import {TestNFT} from "../src/test/TestNFT.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC20Errors, IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract TestTokenTest is TestBase {
    uint256 internal constant SUPPLY = 1_000_000 ether;

    TestToken internal token;
    address internal alice;
    address internal bob;

    function setUp() public {
        token = new TestToken("Flashlayer Test Token", "FLT", SUPPLY);
        alice = makeAddr("alice");
        bob = makeAddr("bob");
    }

    function test_Metadata() public view {
        vm.assertEq(token.name(), "Flashlayer Test Token", "name");
        vm.assertEq(token.symbol(), "FLT", "symbol");
        vm.assertEq(uint256(token.decimals()), 18, "decimals");
    }

    function test_InitialSupplyMintedToDeployer() public view {
        vm.assertEq(token.totalSupply(), SUPPLY, "totalSupply");
        vm.assertEq(token.balanceOf(address(this)), SUPPLY, "deployer balance");
        vm.assertEq(token.balanceOf(alice), 0, "alice balance");
    }

    function test_Transfer() public {
        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Transfer(address(this), alice, 123 ether);
        bool ok = token.transfer(alice, 123 ether);

        vm.assertTrue(ok, "transfer returned false");
        vm.assertEq(token.balanceOf(alice), 123 ether, "alice balance");
        vm.assertEq(token.balanceOf(address(this)), SUPPLY - 123 ether, "sender balance");
        vm.assertEq(token.totalSupply(), SUPPLY, "supply unchanged");
    }

    function test_TransferMoreThanBalanceReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 0, 1));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, 1);
    }

    function test_ApproveAndTransferFrom() public {
        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Approval(address(this), alice, 50 ether);
        vm.assertTrue(token.approve(alice, 50 ether), "approve returned false");

        vm.prank(alice);
        vm.assertTrue(token.transferFrom(address(this), bob, 20 ether), "transferFrom returned false");

        vm.assertEq(token.balanceOf(bob), 20 ether, "bob balance");
        vm.assertEq(token.allowance(address(this), alice), 30 ether, "remaining allowance");
    }

    function testFuzz_Transfer(uint256 amount) public {
        amount = amount % (SUPPLY + 1);
        vm.assertTrue(token.transfer(bob, amount), "transfer returned false");
        vm.assertEq(token.balanceOf(bob), amount, "bob balance");
        vm.assertEq(token.balanceOf(address(this)) + token.balanceOf(bob), SUPPLY, "conservation");
    }
}

contract TestNFTTest is TestBase {
    TestNFT internal nft;
    address internal alice;
    address internal bob;

    function setUp() public {
        nft = new TestNFT();
        alice = makeAddr("alice");
        bob = makeAddr("bob");
    }

    function test_Metadata() public view {
        vm.assertEq(nft.name(), "Flashlayer Test NFT", "name");
        vm.assertEq(nft.symbol(), "FLNFT", "symbol");
        vm.assertEq(nft.totalSupply(), 0, "empty at start");
    }

    function test_MintIsSequentialFromOne() public {
        vm.assertEq(nft.mint(alice), 1, "first id");
        vm.assertEq(nft.mint(bob), 2, "second id");
        vm.assertEq(nft.mint(alice), 3, "third id");

        vm.assertEq(nft.totalSupply(), 3, "totalSupply");
        vm.assertEq(nft.ownerOf(1), alice, "owner of 1");
        vm.assertEq(nft.ownerOf(2), bob, "owner of 2");
        vm.assertEq(nft.ownerOf(3), alice, "owner of 3");
        vm.assertEq(nft.balanceOf(alice), 2, "alice balance");
        vm.assertEq(nft.balanceOf(bob), 1, "bob balance");
    }

    function test_MintEmitsTransfer() public {
        vm.expectEmit(true, true, true, true, address(nft));
        emit IERC721.Transfer(address(0), alice, 1);
        nft.mint(alice);
    }

    function test_MintToContractWithoutReceiverWorks() public {
        // plain _mint: no onERC721Received check
        uint256 id = nft.mint(address(this));
        vm.assertEq(nft.ownerOf(id), address(this), "owner");
    }

    function test_MintToZeroAddressReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721InvalidReceiver.selector, address(0)));
        nft.mint(address(0));
    }

    function test_OwnerOfUnmintedReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, 7));
        nft.ownerOf(7);
    }

    function test_TransferFrom() public {
        uint256 id = nft.mint(alice);

        vm.expectEmit(true, true, true, true, address(nft));
        emit IERC721.Transfer(alice, bob, id);
        vm.prank(alice);
        nft.transferFrom(alice, bob, id);

        vm.assertEq(nft.ownerOf(id), bob, "new owner");
        vm.assertEq(nft.balanceOf(alice), 0, "alice balance");
        vm.assertEq(nft.balanceOf(bob), 1, "bob balance");
    }

    function test_TransferByStrangerReverts() public {
        uint256 id = nft.mint(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721InsufficientApproval.selector, bob, id));
        vm.prank(bob);
        nft.transferFrom(alice, bob, id);
    }
}
