"""Reading a tracked item's files: paths, globs or directories → one ``FileState`` per file.

Nothing here raises for one file's fault: an unreadable path, a file over the size limit,
a symlink loop or a path that matches nothing is a ``FileState`` whose ``error`` names the
path, so the other files of the item are still recorded. Binary content (a NUL byte, or
bytes that are not UTF-8) keeps its hash and size only.
"""

from __future__ import annotations

import errno
import glob
import grp
import hashlib
import os
import pwd
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime

#: Files per item at most (a glob or directory naming more is cut, with an error row).
MAX_FILES = 1_000
_SNIFF = 8192
_SIZE = re.compile(r"^\d+ bytes|(?<=: )\d+ bytes")


@dataclass(frozen=True)
class FileState:
    path: str
    hash: str | None = None  # hex SHA-256 of the bytes
    size: int | None = None
    mode: str | None = None  # octal permission bits
    owner: str | None = None  # user:group
    mtime: datetime | None = None
    binary: bool = False
    text: str | None = None  # the content, for text files
    error: str | None = None

    def identity(self) -> str:
        """What makes two snapshots of this file the same (never mtime: a touch is no change;
        nor the size in a refusal: a growing file over the limit is still the same refusal)."""
        error = _SIZE.sub("N bytes", self.error) if self.error else None
        return f"{self.path}\0{self.hash}\0{self.mode}\0{self.owner}\0{error}"


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group}"


def _why(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "symlink loop"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.ENOENT:
        return "not found"
    return e.strerror or str(e)


def read_file(path: str, max_bytes: int) -> FileState:
    """One file's state; ``max_bytes`` bounds what is read (larger files are refused)."""
    try:
        st = os.stat(path)  # follows symlinks: a loop raises ELOOP here
    except OSError as e:
        return FileState(path, error=f"{path}: {_why(e)}")
    meta = {
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "owner": _owner(st),
        "mtime": datetime.fromtimestamp(st.st_mtime, UTC),
        "size": st.st_size,
    }
    if not stat.S_ISREG(st.st_mode):
        return FileState(path, **meta, error=f"{path}: not a regular file")
    if st.st_size > max_bytes:
        return FileState(
            path, **meta, error=f"{path}: {st.st_size} bytes, over the limit of {max_bytes} bytes"
        )
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        return FileState(path, **meta, error=f"{path}: {_why(e)}")
    if len(data) > max_bytes:  # grew since stat
        return FileState(
            path, **meta, error=f"{path}: over the limit of {max_bytes} bytes while read"
        )
    meta["size"] = len(data)
    digest = hashlib.sha256(data).hexdigest()
    text = None
    if b"\0" not in data[:_SNIFF]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return FileState(path, hash=digest, binary=text is None, text=text, **meta)


def expand(patterns: list[str]) -> tuple[list[str], list[FileState]]:
    """The files ``patterns`` name (sorted, unique) and error states for those naming none."""
    found: list[str] = []
    errors: list[FileState] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            files = [m for m in matches if not os.path.isdir(m)]
            if not files:
                errors.append(FileState(pattern, error=f"{pattern}: no file matches"))
            found.extend(files)
        elif os.path.isdir(pattern):
            for root, dirs, names in os.walk(pattern, onerror=_walk_errors(errors)):
                dirs.sort()
                found.extend(os.path.join(root, n) for n in sorted(names))
        else:
            found.append(pattern)  # missing or unreadable: read_file records why
    unique = list(dict.fromkeys(found))
    if len(unique) > MAX_FILES:
        errors.append(
            FileState(
                unique[MAX_FILES], error=f"{len(unique)} files; only the first {MAX_FILES} kept"
            )
        )
        unique = unique[:MAX_FILES]
    return unique, errors


def _walk_errors(errors: list[FileState]):
    """An ``os.walk`` error handler recording a folder it cannot read."""

    def record(e: OSError) -> None:
        where = e.filename or "?"
        errors.append(FileState(where, error=f"{where}: {_why(e)}"))

    return record


def read_item(patterns: list[str], max_bytes: int) -> list[FileState]:
    """Every file of an item, sorted by path."""
    paths, errors = expand(patterns)
    states = [read_file(p, max_bytes) for p in paths] + errors
    return sorted(states, key=lambda s: s.path)


def version_hash(states: list[FileState]) -> str:
    h = hashlib.sha256()
    for s in sorted(states, key=lambda s: s.path):
        h.update(s.identity().encode())
        h.update(b"\n")
    return h.hexdigest()
