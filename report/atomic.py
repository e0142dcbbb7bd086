"""Write a set of files so that readers see either the old set or the complete new one.

Each file goes to a temporary name beside its target first. Only when all are complete are
they renamed into place, under a lock on the folder so that two runs cannot interleave; if a
rename fails, the files already replaced get their previous versions back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# mkstemp creates files readable by the owner alone; published reports follow the umask, read
# once here rather than set and reset around every file.
_FILE_MODE = 0o666 & ~_umask()


def _as_target_error(exc: OSError, target: Path) -> OSError:
    """The same error, naming the file the user asked for rather than a temporary one."""
    return OSError(exc.errno, exc.strerror or str(exc), str(target))


# What a file holds: bytes, or a callable that makes them (all at once, or piece by piece) when
# the file is written, so that large outputs never need to sit in memory whole.
Content = bytes | Callable[[], bytes | Iterable[bytes]]


def _temporary_name(target: Path) -> str:
    """This process's temporary name for ``target``: known in advance, so an interrupt at any
    moment can still find and remove it."""
    return str(target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp"))


def _stage(target: Path, data: Content) -> str:
    """Write ``data`` to a new temporary file beside ``target`` and return its name."""
    temp_name = _temporary_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(temp_name):
            os.unlink(temp_name)  # left by an earlier process with the same id
        fd = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _as_target_error(exc, target) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            made = data() if callable(data) else data
            if isinstance(made, bytes):
                handle.write(made)
            else:
                handle.writelines(made)
        os.chmod(temp_name, _FILE_MODE)
    except BaseException as exc:
        os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise _as_target_error(exc, target) from None
        raise
    return temp_name


@contextlib.contextmanager
def _folder_locks(folders: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock on each folder (in a fixed order, so runs cannot deadlock)."""
    with contextlib.ExitStack() as stack:
        for folder in sorted(set(folders)):
            fd = os.open(folder, os.O_RDONLY)
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield


def _keep_previous(target: Path) -> str:
    """Keep the current version of ``target`` under a second name, to restore on failure."""
    backup = str(target.with_name(f".{target.name}.{os.getpid()}.old"))
    if os.path.lexists(backup):
        os.unlink(backup)
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)  # file systems without hard links
    return backup


def _swap_in(staged: list[tuple[str, Path]]) -> None:
    """Rename every staged file onto its target; on failure put the old targets back."""
    done: list[tuple[Path, str | None]] = []
    try:
        for temp_name, target in staged:
            if target.is_dir():
                raise IsADirectoryError(21, "is a folder, not a file", str(target))
            backup = _keep_previous(target) if target.exists() else None
            done.append((target, backup))
            try:
                os.replace(temp_name, target)
            except OSError as exc:
                done.pop()
                if backup:
                    os.unlink(backup)
                raise _as_target_error(exc, target) from None
    except BaseException:
        for target, backup in reversed(done):
            if backup:
                os.replace(backup, target)
            else:
                os.unlink(target)
        raise
    for _, backup in done:
        if backup:
            os.unlink(backup)


def check_writable(target: Path) -> None:
    """Fail early, naming ``target``, when it could not be written, before any work is done."""
    if "\0" in str(target):
        raise OSError(22, "a path cannot contain a NUL character", repr(str(target)))
    if target.is_dir():
        raise IsADirectoryError(21, "is a folder, not a file", str(target))
    folder = target.parent
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(20, "cannot hold files: it is not a folder", str(folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "no permission to write there", str(folder))


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while the outputs are swapped, so an interrupt lands
    before the swap or after it, never in the middle, and no backup is left behind.

    Python runs its signal handlers in the main thread whichever thread the system hands a
    signal to, so handlers that only note the signal hold it back for the whole process; it is
    raised again, for the handler that was in place, once the swap is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can be changed only from the main thread
        return
    noted: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: noted.append(signum))
                for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler set outside Python, which cannot be put back; the default is.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if noted:
            signal.raise_signal(noted[0])


def write_atomically(files: dict[Path, Content]) -> None:
    """Write each file to a temporary name, and only when all are complete rename them into place.

    An interrupted or failed run leaves every earlier output as it was; an interrupt during the
    renames themselves waits until they are all done, so the files always belong together.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in files.items():
            staged.append((_stage(target, data), target))
        with _folder_locks([target.parent for target in files]), _signals_held():
            _swap_in(staged)
    finally:
        for target in files:
            temp_name = _temporary_name(target)
            if os.path.lexists(temp_name):
                os.unlink(temp_name)
