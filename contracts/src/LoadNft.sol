// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @notice The ERC-721 that `flashlayer loadgen` deploys for its `nft` workload: anyone mints
/// the next token id to themselves, as a mint event's crowd does.
contract LoadNft is ERC721 {
    uint256 private _minted;

    constructor() ERC721("Flashlayer Load NFT", "LOADNFT") {}

    /// @notice Mints the next token id (from 1) to the caller and returns it.
    function mint() external returns (uint256 tokenId) {
        tokenId = ++_minted;
        _mint(msg.sender, tokenId);
    }

    /// @notice Tokens minted so far (none are ever burned).
    function totalSupply() external view returns (uint256) {
        return _minted;
    }
}
