"""Foreign exchange: reference rates (the ECB's), their history, a cache, conversion."""
