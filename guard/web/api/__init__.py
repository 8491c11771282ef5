"""The JSON API's blueprints: each view validates its input, makes one use-case call and returns its result.

May import guard.web.shared and the rings below guard.web; never guard.web.console.
"""
