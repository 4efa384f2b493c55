"""The installation's private CA and service identities for mutual TLS (issue 17, part B).

``ca``: the CA (``strongbox pki init``), service certificates (``strongbox pki issue``), the
revocation list (``strongbox pki revoke``) and the identities registry (certificate subject ->
permissions). The internal listener that requires these certificates is ``api/internal.py``.
"""
