"""How long one program run under mocks takes: the unit every test of a stack pays.

Run with `scripts/test --benchmark-enable -k benchmark` to measure; in normal runs (pyproject.toml has
`--benchmark-disable`) each runs once, as a plain test of the same property.
"""

from __future__ import annotations

import pytest

from tests.support.stacks import run_stack, stack_config


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_benchmark_one_program_run(benchmark, stack, tmp_path):
    config = stack_config(stack)
    run = benchmark(run_stack, tmp_path, stack, config)
    assert "proxy" in run.containers()
