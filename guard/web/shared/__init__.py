"""What the API and the console share: the current Guard per request, the error-to-HTTP mapping, body parsing,
API-key auth, query schemas, observability (request ids, metrics, access log), rate limits, downloads.

May import guard.app and every ring below it; never guard.web.api or guard.web.console.
"""
