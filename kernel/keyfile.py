"""Secret files only their owner can read: the signing key kept beside the database.

:func:`read_or_create` gives the key stored in a file, creating the file first (mode
0600, written completely before it appears under its name, so a racing process never
reads half a key, and the first one to create it wins) when there is none.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from kernel.errors import ConfigError

MODE = 0o600


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The key in ``path``; when the file does not exist it is created with ``make()``."""
    path = Path(path)
    for _ in range(50):
        key = _read(path)
        if key:
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(make() + "\n")
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(temp, path)  # atomic: the name appears with the whole key
        finally:
            temp.unlink(missing_ok=True)
    raise ConfigError(f"the key file {path} is empty: remove it or write a key into it")


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (the SQLite database file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
    except FileExistsError:
        return
    os.close(fd)


def _read(path: Path) -> str:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return ""
    if mode & 0o077:
        raise ConfigError(
            f"the key file {path} can be read by others (mode {mode:o}): chmod 600 {path}"
        )
    return path.read_text(encoding="ascii").strip()
