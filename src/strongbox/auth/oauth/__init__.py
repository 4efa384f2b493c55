"""OAuth2 authorization server and JWT access tokens (issue 17, part B; docs/oauth.md).

- ``models``/``repository``: clients, authorization codes, refresh-token families, revoked
  access-token ids and the signing keys (private halves sealed at rest).
- ``keys``: the ES256 signing keys, their rotation and the JWKS.
- ``tokens``: minting and strictly validating access tokens (JWTs).
- ``clients``: registering and revoking clients (CLI and API).
- ``server``: Authlib's grants and endpoints adapted to our unit of work.
"""
