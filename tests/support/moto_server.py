"""moto's server on loopback: the AWS APIs (S3, CloudWatch, CloudWatch Logs ...) berth's host tools call."""

from __future__ import annotations

from moto.server import ThreadedMotoServer

from tests.support import tiers
from tests.support.local_data import free_port


class MotoServer:
    """moto's server on a free loopback port, started now; whoever started it stops it."""

    def __init__(self) -> None:
        tiers.starting("moto's AWS API server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
