"""Write-then-swap: readers see the old file or folder, or the new one, never half of either.

Used by the run reports, the search index and the published site (luigi's rule: an output exists only
once it is complete).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

_RENAME_EXCHANGE = 2


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `path` through a temporary file beside it, renamed into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0


def swap_dir(new: str | os.PathLike, target: str | os.PathLike, keep_old: str | os.PathLike | None = None) -> None:
    """Put the finished folder `new` where `target` is, in one step where the system allows; `new` is consumed.
    The previous folder is removed, or renamed to `keep_old` (replacing whatever is there) for the caller's use."""
    new, target = Path(new), Path(target)
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        old = new  # `new` now holds the previous folder
    else:
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.rename(target, old)
        os.rename(new, target)
    if keep_old is None:
        shutil.rmtree(old, ignore_errors=True)
        return
    shutil.rmtree(keep_old, ignore_errors=True)
    os.rename(old, keep_old)


def swap_symlink(link: str | os.PathLike, target_name: str) -> None:
    """Point the symlink `link` at `target_name` (relative) atomically: a new link renamed over the old one."""
    link = Path(link)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target_name, tmp)
    os.replace(tmp, link)
