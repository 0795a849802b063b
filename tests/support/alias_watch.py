"""Which containers answer a service's network alias, sampled every 50 ms while a deploy runs.

A probe container joins the service's network and, in a loop, resolves the alias (Docker's DNS gives
every container that carries it) and asks each address over HTTP; each sample is a timestamp and the
addresses that answered. The test maps addresses to containers and so measures the window in which
two versions answered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import docker

WATCH = r"""
import http.client, json, socket, sys, time
alias, port = sys.argv[1], int(sys.argv[2])
while True:
    try:
        addresses = sorted({a[4][0] for a in socket.getaddrinfo(alias, port, socket.AF_INET, socket.SOCK_STREAM)})
    except OSError:
        addresses = []
    answered = []
    for address in addresses:
        try:
            c = http.client.HTTPConnection(address, port, timeout=0.5)
            c.request("GET", "/")
            if c.getresponse().status < 500:
                answered.append(address)
            c.close()
        except OSError:
            pass
    print(json.dumps([time.time(), addresses, answered]), flush=True)
    time.sleep(0.05)
"""


@dataclass
class Sample:
    at: float
    resolved: list[str]
    answered: list[str]


class AliasWatch:
    """Start with `AliasWatch(client, network, alias, port, image)`; `stop()` returns the samples."""

    def __init__(self, client: docker.DockerClient, network: str, alias: str, port: int, image: str):
        self._container = client.containers.run(image, ["python3", "-c", WATCH, alias, str(port)], entrypoint=[],
                                                network=network, user="0:0", detach=True)
        deadline = time.monotonic() + 30
        while not self._container.logs().strip():
            assert time.monotonic() < deadline, "the alias watcher printed nothing"
            time.sleep(0.2)

    def stop(self) -> list[Sample]:
        try:
            self._container.stop(timeout=1)
            lines = self._container.logs().decode().splitlines()
        finally:
            self._container.remove(force=True)
        return [Sample(*json.loads(line)) for line in lines if line.startswith("[")]


def two_answered(samples: list[Sample]) -> float:
    """Seconds from the first sample in which two addresses answered to the last such sample."""
    both = [s.at for s in samples if len(s.answered) > 1]
    return max(both) - min(both) if both else 0.0
