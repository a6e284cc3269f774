"""The data directory of the embedded default: private to the user who runs the service.

It holds the SQLite database (everyone's todos and conversations) and the generated signing
secret, so the directory is 0700 and the files in it 0600, whatever the umask says. SQLite
creates its `-wal` and `-shm` side files with the mode of the database file, so creating the
database file 0600 before SQLite opens it covers all three.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    """Drop group/other permission bits of a path we own; leave anyone else's path alone."""
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700, or tighten it if it exists."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def private_sqlite_file(path: Path) -> Path:
    """Make the database file (created empty when missing) and its side files 0600."""
    if not path.parent.is_dir():
        return path  # SQLite will say that it cannot open the file
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass
    for candidate in [path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)]:
        if candidate.exists():
            _tighten(candidate, PRIVATE_FILE)
    return path
