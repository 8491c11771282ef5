"""Outbound messages to subscribers (Standard Webhooks): the outbox written with each change, and its delivery.

May import guard.storage and guard.core only; decisions, holds and situation changes call `outbox.enqueue` inside
their own transaction, so a message exists exactly when its change was committed.
"""
