"""Fargate's task sizes: CPU units and the memory each allows (AWS ECS developer guide, "Task size").

A service asks for `cpus` and `memoryMb`; Fargate runs only certain pairs, so berth picks the smallest
pair that gives at least what was asked, and the loader refuses a service no pair can hold.
"""

from __future__ import annotations

# cpu units -> memory choices in MiB
SIZES: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}
DEFAULT_CPUS = 0.25
MAX_CPUS = max(SIZES) / 1024
MAX_MEMORY_MB = max(max(m) for m in SIZES.values())


def task_size(cpus: float | None, memory_mb: int) -> tuple[int, int] | None:
    """The smallest (cpu units, memory MiB) Fargate runs that holds the request, or None if none does."""
    units = round((cpus or DEFAULT_CPUS) * 1024)
    for cpu in sorted(SIZES):
        if cpu < units:
            continue
        memory = next((m for m in SIZES[cpu] if m >= memory_mb), None)
        if memory is not None:
            return cpu, memory
    return None
