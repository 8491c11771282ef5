"""Holds (issue 15): waiting held messages out, releasing them when the awaited case clears, letting senders
list and cancel them, and the background worker that drives releases and expiries.

Sits at the lifecycle level: may import guard.decisions (to decide a held message again), guard.situation,
guard.policy, guard.outbound (the outbox), guard.storage and guard.core; the server and the web call it.
"""
