"""Card and PII tokenization, envelope encryption, key providers, rotation."""
