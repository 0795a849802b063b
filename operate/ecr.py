"""The digest ECR holds for each built service's version: how status knows an EC2 host's built images.

The host pulls a built image by digest (components/single_host/images.py), so it keeps no `:<version>`
name for it; ECR's tags are immutable, so the version's digest there is the one the host should run. Asked
with the operator's own AWS credentials (the region is the stack's `aws:region`); a service ECR
cannot answer for is reported as not checked, never as a match.
"""

from __future__ import annotations

from typing import Any

from operate.intent import Intended


def version_digests(wanted: list[Intended], region: str | None, client: Any = None) -> dict[str, str]:
    """`berth.service` label -> the digest of its version in the stack's ECR repository."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = client or boto3.client("ecr", region_name=region)
    except BotoCoreError:
        return {}
    out = {}
    for w in (w for w in wanted if w.image.in_ecr):
        repository, tag = w.image.reference.rsplit(":", 1)
        try:
            found = client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
        except (BotoCoreError, ClientError):
            continue
        if found:
            out[w.service] = found[0]["imageDigest"]
    return out
