"""Where backups are kept: `<prefix><app>/<backup id>/<part>`, the manifest written last.

`S3Store` is the stack's bucket (staging/prod; the instance role may write and read only its prefix,
and delete nothing). `DirStore` is a directory on this machine (dev). Both list only backups whose
manifest exists: a run that died halfway is never offered for a restore.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backup.manifest import NAME, BackupError


class DirStore:
    def __init__(self, path: str):
        self.root = Path(path)

    def __str__(self) -> str:
        return str(self.root)

    def put(self, key: str, source: Path) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def get(self, key: str, target: Path) -> bool:
        source = self.root / key
        if not source.is_file():
            return False
        shutil.copyfile(source, target)
        return True

    def backups(self, app: str) -> list[str]:
        return sorted(p.parent.name for p in (self.root / app).glob(f"*/{NAME}"))


class S3Store:
    def __init__(self, bucket: str, prefix: str, region: str | None = None):
        import boto3  # only S3 stacks need it (Ubuntu's python3-boto3 on the host)
        from botocore.exceptions import ClientError

        self.bucket, self.prefix = bucket, prefix
        self._client = boto3.client("s3", region_name=region)
        self._client_error = ClientError

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def put(self, key: str, source: Path) -> None:
        self._client.upload_file(str(source), self.bucket, self.prefix + key)

    def get(self, key: str, target: Path) -> bool:
        try:
            self._client.download_file(self.bucket, self.prefix + key, str(target))
        except self._client_error as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise BackupError(f"cannot read {self}{key}: {err}") from err
        return True

    def backups(self, app: str) -> list[str]:
        found = set()
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{app}/"):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(self.prefix) + len(app) + 1:]
                if rest.count("/") == 1 and rest.endswith("/" + NAME):
                    found.add(rest.split("/", 1)[0])
        return sorted(found)


def store_from(plan: dict):
    spec = plan["store"]
    if "s3" in spec:
        return S3Store(spec["s3"]["bucket"], spec["s3"]["prefix"], spec["s3"].get("region"))
    return DirStore(spec["dir"])
