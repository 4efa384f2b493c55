"""Settlement: windows, batches, settlement files, payouts (issue 19; docs/settlement.md)."""
