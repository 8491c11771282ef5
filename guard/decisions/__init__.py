"""The decision use cases: decide one planned send, a batch or a campaign stream (validate, evaluate, record in
one transaction with its audit record), the one answer builder, and the reviewers' reads (queries, stats,
export).

May import guard.policy, guard.auth, guard.situation, guard.inbound, guard.outbound, guard.ledger,
guard.storage, guard.core.
"""
