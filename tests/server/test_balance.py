"""The connection board that spreads keep-alive connections over gunicorn's workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from guard.server import balance
from guard.server.balance import Board


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_worker_holding_more_than_one_above_the_least_loaded_holds_back():
    board = Board(4)
    mine, other = board.claim(os.getpid()), board.claim(os.getppid())
    assert mine is not None and other is not None and mine != other
    assert not board.may_accept(other, 3)  # three above this worker's none
    assert board.may_accept(mine, 4)  # one above: still its share
    assert not board.may_accept(mine, 5)
    assert board.may_accept(other, 4)  # the other caught up ...
    assert board.may_accept(mine, 5)  # ... so this one takes connections again


def test_alone_a_worker_always_accepts():
    board = Board(2)
    slot = board.claim(os.getpid())
    assert slot is not None
    assert board.may_accept(slot, 100)


def test_a_killed_worker_never_makes_the_others_hold_back():
    board = Board(4)
    mine, gone = board.claim(os.getpid()), board.claim(_dead_pid())
    assert mine is not None and gone is not None
    board.may_accept(gone, 0)  # its last word: no connections
    assert board.may_accept(mine, 5)  # the dead worker's place is cleared, not waited for
    assert board.claim(os.getppid()) == gone  # and can be taken by a replacement


def test_a_silent_worker_is_left_out_and_its_place_reused(monkeypatch):
    monkeypatch.setattr(balance, "STALE_AFTER", 0.05)
    board = Board(2)
    mine, silent = board.claim(os.getpid()), board.claim(os.getppid())
    assert mine is not None and silent is not None
    board.may_accept(silent, 0)
    time.sleep(0.1)
    assert board.may_accept(mine, 5)
    assert board.claim(12345678) == silent


def test_a_full_board_leaves_a_worker_out_instead_of_failing():
    board = Board(1)
    assert board.claim(os.getpid()) == 0
    assert board.claim(os.getppid()) is None


def test_a_leaving_worker_stops_counting():
    board = Board(2)
    mine, other = board.claim(os.getpid()), board.claim(os.getppid())
    assert mine is not None and other is not None
    board.may_accept(other, 0)
    assert not board.may_accept(mine, 3)
    board.release(other)
    assert board.may_accept(mine, 3)
