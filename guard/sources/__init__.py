"""Vendor webhook sources: configured by an admin (kind, encrypted signing secret), and receiving their
deliveries as Guard events.

May import guard.situation, guard.inbound and the rings below them; never guard.decisions.
"""
