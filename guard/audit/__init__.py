"""Cross-domain audit work: verifying the whole chained log (every domain's records re-computed) and retention
(purge and erasure that never forget a customer's "no").

May import every domain ring below it; only guard.app and the interfaces import it.
"""
