"""The yardstick: a bare Flask JSON endpoint, served by the same gunicorn settings as Guard."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask("bare")


@app.post("/v1/decisions")
def decide() -> object:
    """Parse the JSON body and answer a fixed decision-shaped JSON: the HTTP floor."""
    body = request.get_json()
    return jsonify({"decision_id": "x", "outcome": "allow", "route": None, "defer_until": None, "reasons": [],
                    "customer": body.get("customer_id")})
