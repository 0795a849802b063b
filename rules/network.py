"""Who may reach a berth host's SSH port: named admin networks (offices, VPNs), never the internet.

Several wide networks add up to the internet as surely as 0.0.0.0/0 does (0.0.0.0/1 + 128.0.0.0/1;
2000::/3 is every global IPv6 address), so what is judged is the total address space admitted, per
IP version, after merging overlaps: at most a /16 of IPv4 and a /48 of IPv6 in all. Config judges a
stack's whole list; the policy pack judges each registered rule (it sees one at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, collapse_addresses

MAX_ADMIN_ADDRESSES = {4: 2 ** 16, 6: 2 ** 80}  # a /16 of IPv4, a /48 of IPv6
MAX_ADMIN_PREFIX = {4: 16, 6: 48}
SSH_PORT = 22


def admitted(networks: Iterable[IPv4Network | IPv6Network], version: int) -> int:
    """How many addresses of IP `version` the networks admit together (overlaps counted once)."""
    # one IP version at a time, as collapse_addresses requires
    if version == 4:
        return sum(n.num_addresses for n in collapse_addresses([n for n in networks if isinstance(n, IPv4Network)]))
    return sum(n.num_addresses for n in collapse_addresses([n for n in networks if isinstance(n, IPv6Network)]))


def reach(total: int, version: int) -> str:
    """`total` addresses in words: the whole internet, or a count."""
    return "the whole internet" if total == 2 ** (32 if version == 4 else 128) else f"{total} IPv{version} addresses"


def too_wide(networks: Iterable[IPv4Network | IPv6Network]) -> list[tuple[int, int]]:
    """(version, total) for each IP version whose admitted space is more than admins' networks need."""
    networks = list(networks)
    return [(v, total) for v in (4, 6) if (total := admitted(networks, v)) > MAX_ADMIN_ADDRESSES[v]]
