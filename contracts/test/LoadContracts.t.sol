// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {LoadToken} from "../src/LoadToken.sol";
import {LoadNft} from "../src/LoadNft.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract LoadTokenTest is TestBase {
    LoadToken internal token;

    function setUp() public {
        token = new LoadToken(1_000 ether);
    }

    function test_airdropGivesEachRecipientTheAmount() public {
        address[] memory to = new address[](3);
        to[0] = makeAddr("a");
        to[1] = makeAddr("b");
        to[2] = makeAddr("c");
        token.airdrop(to, 5 ether);
        for (uint256 i = 0; i < to.length; i++) {
            vm.assertEq(token.balanceOf(to[i]), 5 ether, "recipient balance");
        }
        vm.assertEq(token.balanceOf(address(this)), 985 ether, "deployer keeps the rest");
    }

    function test_airdropBeyondBalanceReverts() public {
        address[] memory to = new address[](2);
        to[0] = makeAddr("a");
        to[1] = makeAddr("b");
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, address(this), 400 ether, 600 ether)
        );
        token.airdrop(to, 600 ether);
    }
}

contract LoadNftTest is TestBase {
    LoadNft internal nft;

    function setUp() public {
        nft = new LoadNft();
    }

    function test_mintGivesTheCallerSequentialIds() public {
        address alice = makeAddr("alice");
        address bob = makeAddr("bob");
        vm.prank(alice);
        vm.assertEq(nft.mint(), 1, "first id");
        vm.prank(bob);
        vm.assertEq(nft.mint(), 2, "second id");
        vm.prank(alice);
        nft.mint();
        vm.assertEq(nft.ownerOf(1), alice, "owner of 1");
        vm.assertEq(nft.ownerOf(2), bob, "owner of 2");
        vm.assertEq(nft.balanceOf(alice), 2, "alice's balance");
        vm.assertEq(nft.totalSupply(), 3, "supply");
    }
}
