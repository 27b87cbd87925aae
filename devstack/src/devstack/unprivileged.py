"""Who a server runs as, when it refuses to run as root.

PostgreSQL will not start as root. When we are root we run it as the existing
unprivileged account `nobody` (no new system user is ever created), and check
first that `nobody` can reach the directories it needs, so that a bad location
fails with a message instead of a cryptic "Permission denied" from initdb.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class Account:
    """An existing unprivileged user (and its primary group) to run a server as."""

    user: str
    group: str
    uid: int
    gid: int

    @classmethod
    def named(cls, user: str) -> Account:
        entry = pwd.getpwnam(user)
        return cls(user, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid)

    def can_enter(self, directory: Path) -> bool:
        """Whether this account may traverse `directory` (search permission)."""
        info = directory.stat()
        if not stat.S_ISDIR(info.st_mode):
            return False
        if info.st_uid == self.uid:
            return bool(info.st_mode & stat.S_IXUSR)
        if info.st_gid == self.gid:
            return bool(info.st_mode & stat.S_IXGRP)
        return bool(info.st_mode & stat.S_IXOTH)

    def require_reachable(self, directory: Path, why: str) -> None:
        """Raise PermissionError naming the first directory on the way to
        `directory` (itself included) that this account cannot enter."""
        directory = directory.resolve()
        for step in [*reversed(directory.parents), directory]:
            if not self.can_enter(step):
                mode = stat.filemode(step.stat().st_mode)
                raise PermissionError(
                    f"{why}: it runs as the unprivileged user {self.user!r} because we are "
                    f"root, and {self.user!r} cannot enter {step} ({mode}). Choose a location "
                    f"that every user can traverse (for example under /tmp or /srv), "
                    f"or run as a normal user."
                )


def server_account() -> Account | None:
    """The account to run servers as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    return Account.named(UNPRIVILEGED_USER)


@contextmanager
def scratch_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new empty directory for servers' data (a data directory, or a var
    directory of a whole stack), removed afterwards.

    It is made under `parent` unless the server account cannot reach it there
    (pytest's temporary directories are private to root), then in /tmp; as
    root, it is made traversable (0711) for that account.
    """
    account = server_account()
    reachable = account is None or all(
        account.can_enter(step) for step in [*parent.resolve().parents, parent.resolve()]
    )
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent if reachable else None))
    if account is not None:
        path.chmod(0o711)  # mkdtemp makes it private to root; the account must traverse it
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
