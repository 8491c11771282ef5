"""API keys and scopes: creating, listing, revoking and verifying keys (stored hashed, chained in the audit log).

May import guard.ledger, guard.storage, guard.core.
"""
