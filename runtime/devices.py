"""IREE runtime devices, one per driver, created on first use and released at exit.

The IREE Python runtime crashes or prints nanobind "leaked" warnings when its
objects outlive the interpreter's teardown; every live module and device is
therefore released, modules first, by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

import iree.runtime as iree_rt

from ..errors import RuntimeLoadError


class _Releasable(Protocol):
    def release(self) -> None: ...


@dataclass
class Device:
    """An IREE VM instance and a HAL device of one driver."""

    driver: str
    instance: Any
    hal_device: Any


_lock = threading.Lock()
_devices: dict[str, Device] = {}
_users: weakref.WeakSet[_Releasable] = weakref.WeakSet()


def get_device(driver: str) -> Device:
    """The shared device of ``driver`` (``local-task``, ``cuda``, ``hip``, ``vulkan``)."""
    with _lock:
        device = _devices.get(driver)
        if device is None:
            try:
                instance = iree_rt.VmInstance()
                hal_device = iree_rt.get_driver(driver).create_default_device()
            except (RuntimeError, ValueError) as err:
                raise RuntimeLoadError(f"cannot create an IREE device for driver '{driver}': {err}") from None
            device = Device(driver, instance, hal_device)
            _devices[driver] = device
        return device


def register_user(obj: _Releasable) -> None:
    """Have ``obj.release()`` called before the devices go away at exit."""
    _users.add(obj)


@atexit.register
def release_all() -> None:
    """Release every module, then every device (also safe to call by hand)."""
    for user in list(_users):
        user.release()
    with _lock:
        _devices.clear()
