"""offline/mockrun.py's runs leave nothing behind in the process that made them: `plan`, `plan diff` and
the tests run many programs one after another in one process."""

from __future__ import annotations

import asyncio
import logging

from offline import mockrun
from tests.support.stacks import stack_config


def test_a_run_closes_every_event_loop_it_or_the_stock_mock_monitor_makes(monkeypatch, tmp_path):
    """The stock monitor makes a loop on each SDK worker thread that reaches it and never closes it; one the
    garbage collector finalizes at exit prints a traceback on the runner's stderr."""
    made: list[asyncio.AbstractEventLoop] = []
    real = asyncio.new_event_loop

    def tracked() -> asyncio.AbstractEventLoop:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(asyncio, "new_event_loop", tracked)
    mockrun.record("prod", stack_config("prod"), tmp_path)  # prod invokes and registers from worker threads
    assert len(made) > 1 and all(loop.is_closed() for loop in made)


def test_a_run_leaves_no_logger_in_loggings_registry(tmp_path):
    """A registered one would stay for the process's life, and pytest's log capture attaches to every
    non-propagating logger there on each phase of every later test."""
    mockrun.record("dev", stack_config("dev"), tmp_path)
    assert not [name for name in logging.Logger.manager.loggerDict if name.startswith("berth.mockrun")]
