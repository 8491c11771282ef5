"""The console's blueprint: every page lives under /console, and / leads there."""

from __future__ import annotations

from flask import Blueprint
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
               static_url_path="/console/static")
csrf = CSRFProtect()
