"""GUARD_WEBHOOK_* settings: short defaults so deliveries arrive within seconds, bounded values."""

from __future__ import annotations

import pytest

from guard.core.config import Settings


def test_defaults_poll_twice_a_second_and_retry_for_a_day():
    settings = Settings.from_env({})
    assert settings.webhook_poll_interval == 0.5 and settings.webhook_timeout == 5.0
    assert settings.webhook_backoff == 10.0 and settings.webhook_retry_for == 24 * 3600


def test_each_can_be_set():
    settings = Settings.from_env({"GUARD_WEBHOOK_POLL_INTERVAL": "0.1", "GUARD_WEBHOOK_TIMEOUT": "2",
                                  "GUARD_WEBHOOK_BACKOFF": "0.2", "GUARD_WEBHOOK_RETRY_FOR": "172800"})
    assert (settings.webhook_poll_interval, settings.webhook_timeout, settings.webhook_backoff,
            settings.webhook_retry_for) == (0.1, 2.0, 0.2, 172800.0)


@pytest.mark.parametrize(("name", "value"), [("GUARD_WEBHOOK_POLL_INTERVAL", "0"), ("GUARD_WEBHOOK_TIMEOUT", "soon"),
                                             ("GUARD_WEBHOOK_BACKOFF", "-1"), ("GUARD_WEBHOOK_RETRY_FOR", "9999999")])
def test_values_out_of_range_stop_the_start(name: str, value: str):
    with pytest.raises(SystemExit, match=name):
        Settings.from_env({name: value})


def test_webhook_targets_are_any_host_unless_public_only_is_asked():
    assert Settings.from_env({}).webhook_targets == "any"
    assert Settings.from_env({"GUARD_WEBHOOK_TARGETS": " Public "}).webhook_targets == "public"
    with pytest.raises(SystemExit, match="GUARD_WEBHOOK_TARGETS"):
        Settings.from_env({"GUARD_WEBHOOK_TARGETS": "internal"})
