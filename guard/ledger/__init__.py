"""The ledger ring: the keyed HMAC audit chain (chain.py) and the digests of every kind of record (digests.py).

May import guard.storage and guard.core. Verifying the whole log across domains is guard.audit's job.
"""
