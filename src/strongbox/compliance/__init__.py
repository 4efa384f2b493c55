"""PCI DSS v4.0.1 self-checks as code: controls, signed reports, scans (docs/compliance.md)."""
