// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @notice Minimal ERC721 used by flashlayer's end-to-end tests.
/// Anyone may mint (to any address, contracts included: no receiver check);
/// token ids are sequential, starting at 1.
contract TestNFT is ERC721 {
    uint256 private _minted;

    constructor() ERC721("Flashlayer Test NFT", "FLNFT") {}

    /// @notice Mints the next token id to `to` and returns it.
    function mint(address to) public returns (uint256 tokenId) {
        tokenId = ++_minted;
        _mint(to, tokenId);
    }

    /// @notice Number of tokens minted so far (none are ever burned).
    function totalSupply() public view returns (uint256) {
        return _minted;
    }
}
