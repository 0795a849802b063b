"""scripts/lib/bootstrap.sh: on a machine without the Pulumi CLI, `scripts/dev-up` installs the version the
program's SDK pins, and only once Pulumi's published checksum matches what was downloaded.

Pulumi's release server is stood in for by one on loopback serving a release of the same shape
(`pulumi-v<version>-linux-x64.tar.gz` holding `pulumi/pulumi`, and `pulumi-<version>-checksums.txt`).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.stacks import REPO

VERSION = next(line.split("==")[1].strip() for line in (REPO / "requirements.txt").read_text().splitlines()
               if line.startswith("pulumi=="))
ASSET = f"pulumi-v{VERSION}-linux-x64.tar.gz"


def _release(directory: Path, checksum_of: bytes | None = None) -> None:
    """A release of the CLI whose `pulumi` prints its version; its checksums file lists `checksum_of`."""
    script = f"#!/bin/sh\necho v{VERSION}\n".encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("pulumi/pulumi")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    (directory / ASSET).write_bytes(archive.getvalue())
    digest = hashlib.sha256(checksum_of if checksum_of is not None else archive.getvalue()).hexdigest()
    (directory / f"pulumi-{VERSION}-checksums.txt").write_text(
        f"{'0' * 64}  pulumi-v{VERSION}-darwin-arm64.tar.gz\n{digest}  {ASSET}\n", encoding="utf-8")


@pytest.fixture
def releases(tmp_path):
    """A release server on loopback; yields (its directory, its URL, the paths asked for)."""
    served, asked = tmp_path / "releases", []
    served.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            asked.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield served, f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def _berth_pulumi(url: str, tools: Path) -> subprocess.CompletedProcess:
    """`berth_pulumi` then `pulumi version`, on a PATH with no Pulumi CLI."""
    path = "/usr/bin:/bin"
    assert subprocess.run(["sh", "-c", "command -v pulumi"], env={"PATH": path}).returncode != 0
    return subprocess.run(["bash", "-c", f"source {REPO}/scripts/lib/bootstrap.sh && berth_pulumi && pulumi version"],
                          env={"PATH": path, "BERTH_PULUMI_RELEASES": url, "BERTH_TOOLS": str(tools), "HOME": str(tools)},
                          capture_output=True, text=True, timeout=60)


def test_the_pinned_cli_is_installed_once_when_its_checksum_matches(releases, tmp_path):
    served, url, asked = releases
    _release(served)
    first = _berth_pulumi(url, tmp_path / "tools")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"v{VERSION}"
    assert (tmp_path / "tools" / f"pulumi-v{VERSION}" / "pulumi").is_file()
    again = _berth_pulumi(url, tmp_path / "tools")
    assert again.returncode == 0 and again.stdout.strip() == f"v{VERSION}"
    assert asked == [f"/{ASSET}", f"/pulumi-{VERSION}-checksums.txt"], "the second run downloaded again"


def test_a_download_that_does_not_match_pulumis_checksum_is_refused(releases, tmp_path):
    served, url, _ = releases
    _release(served, checksum_of=b"what Pulumi published")
    refused = _berth_pulumi(url, tmp_path / "tools")
    assert refused.returncode != 0
    assert f"{ASSET} does not match the checksum Pulumi published for it; nothing was installed" in refused.stderr
    assert not (tmp_path / "tools" / f"pulumi-v{VERSION}").exists()


def test_an_unreachable_release_server_says_how_to_install_by_hand(tmp_path):
    unreachable = _berth_pulumi("http://127.0.0.1:9", tmp_path / "tools")
    assert unreachable.returncode != 0
    assert "could not download the Pulumi CLI from http://127.0.0.1:9; install it" in unreachable.stderr
