"""Write files so that a reader only ever sees the old version or the complete new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    # mkstemp creates files readable by the owner alone; published reports follow the umask.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _stage(target: Path, data: bytes) -> str:
    """Write ``data`` to a new temporary file beside ``target`` and return its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, _default_mode())
    except BaseException:
        os.unlink(temp_name)
        raise
    return temp_name


def write_atomically(files: dict[Path, bytes]) -> None:
    """Write each file to a temporary name, and only when all are complete rename them into place.

    An interrupted or failed run leaves every earlier output as it was.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in files.items():
            staged.append((_stage(target, data), target))
        for temp_name, target in staged:
            os.replace(temp_name, target)
    except BaseException:
        for temp_name, _ in staged:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
        raise
