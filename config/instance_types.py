"""What berth needs to know of an EC2 instance type, asked of AWS itself.

`aws.ec2.get_instance_type` is an invoke, not a resource: config loading may ask it before anything
is registered, so any type AWS offers is usable (m7i, c7i, t4g, g6, ...) and only real misfits are
refused: containers that need more memory than the type has, a GPU service on a type without one,
an image built for the other architecture. berth keeps `OS_RESERVE_MB` of the type's memory for the
OS, the Docker daemon and the page cache; containers' limits must add up to at most the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi_aws as aws

OS_RESERVE_MB = 1024

# AWS's architecture names, and the Docker platform and Debian/Ubuntu name of each
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


@dataclass(frozen=True)
class InstanceType:
    name: str
    memory_mb: int
    vcpus: int
    gpus: int = 0
    architecture: str = "x86_64"  # x86_64 or arm64

    @property
    def gpu(self) -> bool:
        return self.gpus > 0

    @property
    def platform(self) -> str:
        """The Docker platform of images this type runs (`linux/amd64`, `linux/arm64`)."""
        return PLATFORMS[self.architecture]

    @property
    def debian_arch(self) -> str:
        return DEBIAN_ARCH[self.architecture]

    @property
    def usable_memory_mb(self) -> int:
        return self.memory_mb - OS_RESERVE_MB


class UnknownInstanceType(LookupError):
    """AWS offers no instance type of this name (in this region), or berth cannot run on it."""


InstanceTypeLookup = Callable[[str], InstanceType]


def from_aws(name: str) -> InstanceType:
    """Ask AWS (in the stack's `aws:region`) what `name` is. Raises UnknownInstanceType with the reason.

    Other failures (no credentials, no network) raise as they are: the deploy could not go on either.
    """
    try:
        found = aws.ec2.get_instance_type(instance_type=name)
    except Exception as err:  # the provider's error names what AWS said
        if "InvalidInstanceType" in str(err) or "do not exist" in str(err):
            raise UnknownInstanceType(f"{name!r} is not an EC2 instance type in this region (aws:region)") from None
        raise
    return described(name, found.memory_size, found.default_vcpus,
                     sum(g.count for g in found.gpuses or []), list(found.supported_architectures or []))


def described(name: str, memory_mb: int, vcpus: int, gpus: int, architectures: list[str]) -> InstanceType:
    """An InstanceType from AWS's description; one berth's hosts cannot run (Mac, 32-bit) is refused."""
    usable = [a for a in architectures if a in PLATFORMS]
    if not usable:
        raise UnknownInstanceType(f"{name} runs {', '.join(architectures) or 'no architecture AWS names'}; berth's "
                                  "hosts run Ubuntu on x86_64 or arm64")
    return InstanceType(name=name, memory_mb=memory_mb, vcpus=vcpus, gpus=gpus, architecture=usable[0])
