"""A stream helper that dies, even half-way through sending its answer, costs the writer one look at the
helpers, never the per-call timeout for each call handed out: the writer does their work itself."""

from __future__ import annotations

import threading
from concurrent.futures.process import _ExecutorManagerThread  # type: ignore[attr-defined]
from typing import Any

import pytest

from guard.decisions import parallel
from guard.decisions.parallel import Helpers, result_of
from tests.decisions import dying_helper


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two real helper processes, with a per-call timeout no test could wait out."""
    monkeypatch.setattr(parallel, "HELPER_TIMEOUT", 3600.0)
    pool = Helpers(2, dying_helper.start, ())
    yield pool
    pool.close()


def _answers_of(pool: Helpers, futures: list[Any]) -> list[Any]:
    """Every call's answer, read in a thread the test gives up on after a minute (a hang fails, not blocks)."""
    answers: list[Any] = []
    reading = threading.Thread(target=lambda: answers.extend(result_of(pool, f) for f in futures), daemon=True)
    reading.start()
    reading.join(60)
    assert not reading.is_alive(), "the writer waited out the per-call timeout for a dead helper"
    return answers


def test_a_helper_killed_mid_answer_gives_up_every_call_it_held_up(helpers: Helpers, caplog):
    running = helpers.submit(dying_helper.answer_after, 0.5, "mine")
    dying = helpers.submit(dying_helper.die_mid_answer)
    queued = helpers.submit(dying_helper.answer_after, 0.5, "queued")
    assert _answers_of(helpers, [dying, running, queued]) == [None, None, None]
    assert not helpers.available, "helpers were not set aside after the loss"
    assert [r.message for r in caplog.records].count(
        "stream helper processes lost (TimeoutError: ); the worker does their work itself for 30 s") == 1


def test_the_lost_pool_leaves_no_thread_behind(helpers: Helpers):
    helpers.submit(dying_helper.answer_after, 0.1, "warm")
    dying = helpers.submit(dying_helper.die_mid_answer)
    _answers_of(helpers, [dying])
    managers = [t for t in threading.enumerate() if isinstance(t, _ExecutorManagerThread)]
    for manager in managers:
        manager.join(30)
    assert not any(manager.is_alive() for manager in managers), "a pool's manager thread still waits on a dead pipe"


def test_a_helper_that_answers_is_waited_for(helpers: Helpers):
    assert _answers_of(helpers, [helpers.submit(dying_helper.answer_after, 1.5, "slow but alive")]) == [
        "slow but alive"]
    assert helpers.available


def test_a_late_answer_from_a_lost_pool_does_not_cost_the_new_one(helpers: Helpers, monkeypatch):
    monkeypatch.setattr(parallel, "RETRY_AFTER", 0.0)  # new helpers at once after the loss
    stale = helpers.submit(dying_helper.answer_after, 2.0, "stale")
    _answers_of(helpers, [helpers.submit(dying_helper.die_mid_answer)])
    fresh = helpers.submit(dying_helper.answer_after, 0.1, "fresh")
    assert _answers_of(helpers, [stale, fresh]) == [None, "fresh"]
    assert helpers.available, "a stale call of the lost pool stopped the new helpers"
