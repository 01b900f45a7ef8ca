"""The end of a contract: reversibility per offer, data returned and erased (SPEC §12)."""
