"""Webhooks: inbound gateway events (verify, store once, process) and outbound deliveries
(Standard Webhooks signatures, retries, SSRF protection)."""
