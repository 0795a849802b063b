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

    def parts(self, app: str, backup_id: str) -> set[str]:
        folder = self.root / app / backup_id
        return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


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

    def _keys(self, prefix: str) -> list[str]:
        """Keys under `prefix`, relative to it (listing is allowed on the host's own prefix only)."""
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        return [o["Key"][len(self.prefix + prefix):] for page in pages for o in page.get("Contents", [])]

    def backups(self, app: str) -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self._keys(f"{app}/") if k.count("/") == 1 and k.endswith("/" + NAME)})

    def parts(self, app: str, backup_id: str) -> set[str]:
        """Found by listing: reading a key that is not there is a 403, not a 404, without ListBucket on it."""
        return {k for k in self._keys(f"{app}/{backup_id}/") if "/" not in k}


Store = DirStore | S3Store  # where backups are kept: a directory (dev), or S3


def store_from(plan: dict) -> Store:
    spec = plan["store"]
    if "s3" in spec:
        return S3Store(spec["s3"]["bucket"], spec["s3"]["prefix"], spec["s3"].get("region"))
    return DirStore(spec["dir"])
