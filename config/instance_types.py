"""The EC2 instance types berth allows, with what the host-fit check needs to know of each.

Memory is the type's RAM in MiB (AWS documentation); berth keeps `OS_RESERVE_MB` for the OS, the
Docker daemon and the page cache, so containers' limits must add up to at most the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

OS_RESERVE_MB = 1024


@dataclass(frozen=True)
class InstanceType:
    memory_mb: int
    vcpus: int
    gpu: bool = False


INSTANCE_TYPES: dict[str, InstanceType] = {
    "t3.small": InstanceType(2048, 2),
    "t3.medium": InstanceType(4096, 2),
    "t3.large": InstanceType(8192, 2),
    "t3.xlarge": InstanceType(16384, 4),
    "t3.2xlarge": InstanceType(32768, 8),
    "m6i.large": InstanceType(8192, 2),
    "m6i.xlarge": InstanceType(16384, 4),
    "m6i.2xlarge": InstanceType(32768, 8),
    "r6i.large": InstanceType(16384, 2),
    "r6i.xlarge": InstanceType(32768, 4),
    "g4dn.xlarge": InstanceType(16384, 4, gpu=True),
    "g4dn.2xlarge": InstanceType(32768, 8, gpu=True),
    "g5.xlarge": InstanceType(16384, 4, gpu=True),
    "g5.2xlarge": InstanceType(32768, 8, gpu=True),
}


def usable_memory_mb(instance_type: str) -> int:
    return INSTANCE_TYPES[instance_type].memory_mb - OS_RESERVE_MB
