"""Outbound messages to subscribers (Standard Webhooks): the outbox written with each change, the subscriptions,
and the delivery worker that signs and sends each message until it is delivered or its retry window ends.

May import guard.ledger (subscription changes are chained in the audit log), guard.storage and guard.core only;
decisions, holds and situation changes call `outbox.enqueue` inside their own transaction, so a message exists
exactly when its change was committed.
"""
