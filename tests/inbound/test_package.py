"""The inbound package is pure: the standard library and its own modules only, every kind with the same API."""

from __future__ import annotations

import inspect
import subprocess
import sys

from guard.inbound import KINDS


def test_importing_it_loads_no_framework_and_no_other_guard_package() -> None:
    code = (
        "import sys, guard.inbound\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'marshmallow', 'durable')\n"
        "          or (m.startswith('guard.') and not m.startswith('guard.inbound'))]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_kind_offers_verify_and_to_events_with_the_same_parameters() -> None:
    assert {"shopify", "stripe", "zendesk"} <= KINDS.keys()
    for module in KINDS.values():
        assert list(inspect.signature(module.verify).parameters) == ["headers", "raw_body", "secret", "now"]
        assert list(inspect.signature(module.to_events).parameters) == ["headers", "raw_body", "customer_field",
                                                                          "now"]
