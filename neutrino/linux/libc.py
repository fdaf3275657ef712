"""The C library, loaded once, for the calls Python has no wrapper for
(setns, unshare, mount, umount2, inotify)."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def errno() -> int:
    """The errno of this thread's last call through ``libc()``."""
    return ctypes.get_errno()
