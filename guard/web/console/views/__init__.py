"""The console's pages; importing this package declares their routes on the blueprint."""

from guard.web.console.views import common, customers, decisions, overview, rules, signin, sources, webhooks

__all__ = ["common", "customers", "decisions", "overview", "rules", "signin", "sources", "webhooks"]
