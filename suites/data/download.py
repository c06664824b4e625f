"""Fetch a remote file once into the cache, verify its checksum, and reuse it; http(s) and file:// URLs."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from suites.data.cache import cache_dir

MIRROR_ENV = "BENCH_DATA_MIRROR"
"""If set, a base URL (http(s):// or file://) that replaces every file's own location: MIRROR/<filename>."""


class DownloadError(RuntimeError):
    """A file could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """A file's name in the cache, its URL and its checksum as 'md5:<hex>' or 'sha256:<hex>'."""

    filename: str
    url: str
    checksum: str

    def source_url(self) -> str:
        mirror = os.environ.get(MIRROR_ENV)
        return f"{mirror.rstrip('/')}/{self.filename}" if mirror else self.url


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, checksum: str) -> bool:
    algorithm, expected = checksum.split(":", 1)
    return file_digest(path, algorithm) == expected


def fetch(remote: RemoteFile, subdir: str, timeout_s: float = 60.0) -> Path:
    """The cached, checksum-verified local path of `remote`, downloading it first if needed."""
    target_dir = cache_dir() / subdir
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / remote.filename
    if target.exists() and _verify(target, remote.checksum):
        return target
    url = remote.source_url()
    partial = target.with_name(target.name + f".{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url}: {exc}; check the network or set {MIRROR_ENV} "
                            f"to a folder or server that holds {remote.filename}") from exc
    if not _verify(partial, remote.checksum):
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{remote.filename} from {url} failed its checksum {remote.checksum}; "
                            "the file is corrupt or a different version: delete the mirror copy and retry")
    os.replace(partial, target)
    return target
