"""Double-entry ledger: accounts, two-phase transfers, balances, posting rules, verification."""
