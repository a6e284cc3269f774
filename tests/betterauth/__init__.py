"""Token issuers for the JWKS tests: the real Better Auth (Node) and keys made here in Python."""
