"""The situation ring: events received from CRM, helpdesk and shop systems, identity links (aliases), what they
add up to (derive), and the set-wise history reads the hot path makes (history).

May import guard.ledger, guard.storage, guard.core.
"""
