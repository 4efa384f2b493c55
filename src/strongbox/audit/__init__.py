"""Tamper-evident audit log: RFC 6962 Merkle log, signed tree heads, proofs, verification."""
