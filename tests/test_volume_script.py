"""scripts/volume (backup/restore of one Docker volume), driven against a stand-in `docker` CLI.

The stand-in records every call and answers like the engine would: the volume exists or not, and
holds data or not. What matters is what reaches the engine: which volume, read-only or not, and that
a volume with data is never overwritten without --replace.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.stacks import REPO
from tests.support.validators import shellcheck

FAKE_DOCKER = """#!/bin/bash
echo "$*" >> "$CALLS"
case "$1 $2" in
  "volume inspect") [ "$3" = "$EXISTING" ] ;;
  *) if [[ "$*" == *" ls -A /data" ]]; then printf '%s' "$CONTENT"; else cat >/dev/null; fi ;;
esac
"""


@pytest.fixture
def docker_stub(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER, encoding="utf-8")
    (bin_dir / "docker").chmod(0o755)
    calls = tmp_path / "calls"

    def run(*args, existing="chatbot_chroma", content="", stdin=b"backup-bytes"):
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls),
               "EXISTING": existing, "CONTENT": content}
        result = subprocess.run([str(REPO / "scripts" / "volume"), *args], input=stdin, capture_output=True,
                                env=env, timeout=30)
        lines = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return result, lines

    return run


def test_script_passes_shellcheck():
    shellcheck(REPO / "scripts" / "volume")


def test_restore_streams_the_archive_into_an_empty_volume(docker_stub):
    result, calls = docker_stub("restore", "chatbot_chroma")
    assert result.returncode == 0, result.stderr
    assert calls[-1].startswith("run --rm -i --network none -v chatbot_chroma:/data alpine:3.20 sh -c")
    assert "tar -xzf - -C /data" in calls[-1]


def test_restore_never_overwrites_data_without_replace(docker_stub):
    result, calls = docker_stub("restore", "chatbot_chroma", content="chroma.sqlite3")
    assert result.returncode == 1 and b"already holds data; add --replace" in result.stderr
    assert not any("tar -xzf" in c for c in calls)
    result, calls = docker_stub("restore", "--replace", "chatbot_chroma", content="chroma.sqlite3")
    assert result.returncode == 0 and "tar -xzf" in calls[-1]


def test_restore_refuses_a_volume_berth_has_not_created(docker_stub):
    result, calls = docker_stub("restore", "chatbot_chromma")
    assert result.returncode == 1 and b"does not exist" in result.stderr and b"pulumi up" in result.stderr
    assert calls == ["volume inspect chatbot_chromma"]


def test_backup_mounts_the_volume_read_only(docker_stub):
    result, calls = docker_stub("backup", "chatbot_chroma")
    assert result.returncode == 0, result.stderr
    assert calls[-1] == "run --rm --network none -v chatbot_chroma:/data:ro alpine:3.20 tar -czf - -C /data ."


@pytest.mark.parametrize("args", [["restore"], ["drop", "chatbot_chroma"], ["backup", "../etc"]])
def test_bad_arguments_are_refused_with_usage(docker_stub, args):
    result, calls = docker_stub(*args)
    assert result.returncode == 2 and calls == []
