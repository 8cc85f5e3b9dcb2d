"""The staging area between the tasks of one load.

`stage` writes the batch's rows to `<CDP_ETL_STAGING_DIR>/<source>/batch-<id>/rows.copy.gz`
(PostgreSQL COPY text format, gzipped) with a `manifest.json` beside it. `validate` and
`publish` COPY that file into a temporary table of their own session. The manifest records
the file's SHA-256; `validate` stores it in the batch's validation result and `publish`
refuses a file whose digest differs, so what is published is exactly what was validated.
The directory must be visible to every worker that runs the DAG's tasks (a shared volume with
Celery or Kubernetes executors; local disk with the Local or Sequential executor).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from typing import Iterable, Union

ROWS_FILE = "rows.copy.gz"
MANIFEST_FILE = "manifest.json"


class StagingError(RuntimeError):
    """The staged files are missing or differ from what was validated."""


@dataclass(frozen=True)
class StagedBatch:
    directory: str
    manifest: dict

    @property
    def rows_path(self) -> str:
        return os.path.join(self.directory, ROWS_FILE)

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def sha256(self) -> str:
        return str(self.manifest["sha256"])


def batch_dir(staging_dir: str, source: str, batch_id: int) -> str:
    return os.path.join(staging_dir, source, f"batch-{batch_id}")


def prepare(staging_dir: str, source: str, batch_id: int) -> str:
    """Creates an empty staging directory for the batch (a re-run starts from scratch)."""
    directory = batch_dir(staging_dir, source, batch_id)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, mode=0o700)
    return directory


def write_rows(directory: str, chunks: Iterable[Union[bytes, memoryview]], manifest: dict) -> StagedBatch:
    """Writes COPY-text chunks to the rows file, then the manifest (rows, digest, extras)."""
    path = os.path.join(directory, ROWS_FILE)
    rows = 0
    with gzip.open(path, "wb", compresslevel=3) as out:
        for chunk in chunks:
            chunk = bytes(chunk)  # psycopg's COPY OUT yields memoryviews
            # COPY text escapes newlines inside values, so each b"\n" ends exactly one row.
            rows += chunk.count(b"\n")
            out.write(chunk)
    full = dict(manifest, rows=rows, sha256=file_sha256(path), file=ROWS_FILE)
    with open(os.path.join(directory, MANIFEST_FILE), "w", encoding="utf-8") as handle:
        json.dump(full, handle, indent=1, sort_keys=True, default=str)
    return StagedBatch(directory, full)


def read(staging_dir: str, source: str, batch_id: int) -> StagedBatch:
    directory = batch_dir(staging_dir, source, batch_id)
    manifest_path = os.path.join(directory, MANIFEST_FILE)
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError as exc:
        raise StagingError(
            f"no staged data for {source} batch {batch_id} at {directory}: the stage task did not "
            "finish, or CDP_ETL_STAGING_DIR is not shared by the workers running this DAG"
        ) from exc
    staged = StagedBatch(directory, manifest)
    actual = file_sha256(staged.rows_path)
    if actual != staged.sha256:
        raise StagingError(f"{staged.rows_path} changed after staging (sha256 {actual} != {staged.sha256})")
    return staged


def remove(staging_dir: str, source: str, batch_id: int) -> None:
    shutil.rmtree(batch_dir(staging_dir, source, batch_id), ignore_errors=True)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
