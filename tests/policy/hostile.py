"""Rule files that once made validation answer 500: each must be a located error (file, line, column)."""

from __future__ import annotations


def _file(description: str = "d", case: str = "outcome: block", test: str = "", expect: str = "") -> str:
    return (
        "rules:\n"
        "  - id: r1\n"
        f"    description: {description}\n"
        "    when:\n"
        "      - message.purpose: marketing\n"
        f"    {case}\n"
        "    explanation: x\n"
        "tests:\n"
        "  - name: t\n"
        "    message: {channel: email, purpose: marketing}\n"
        f"    {test or 'events: []'}\n"
        f"    expect: {{outcome: block{expect}}}\n"
    )


# name → (file text, line, column, a word the message holds)
HOSTILE = {
    "custom tag": (_file(description="!x d"), 3, 18, "tag"),
    "python tag": (_file(description="!!python/name:os.system d"), 3, 18, "tag"),
    "integer of 5000 digits": (_file(description="d\n    priority: " + "9" * 5000), 4, 15, "priority"),
    "integer beyond floats": (_file(expect=", rules: [" + "9" * 400 + "]"), 12, 38, "too large"),
    "bad timestamp": (_file(test="events: [{type: consent.withdrawn, occurred_at: 2026-02-30T10:00:00Z}]"),
                      11, 53, "occurred_at"),
    "expect rules is a number": (_file(expect=", rules: 5"), 12, 37, "expect.rules"),
    "rule_ids is a number": (_file(test="decisions: [{ago: 1d, rule_ids: 5}]"), 11, 37, "rule_ids"),
    "huge ago": (_file(test="decisions: [{ago: " + "99999w" * 30 + "}]"), 11, 23, "ago"),
    "time before 1900": (_file(test="decisions: [{send_at: '0001-01-01T00:00:00+01:00'}]"), 11, 27, "send_at"),
    "route longer than the column": (_file(case="outcome: reroute\n    route: " + "r" * 201), 7, 12, "route"),
}
