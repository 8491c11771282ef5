"""The console: server-rendered pages for reviewing the audit log and managing rules, on the API's use cases.

May import guard.web.shared and the rings below guard.web; never guard.web.api.
"""

from guard.web.console.setup import init_console

__all__ = ["init_console"]
