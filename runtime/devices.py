"""The IREE VM instance and runtime devices, one per driver, created on first use and released at exit.

The IREE Python runtime crashes or prints nanobind "leaked" warnings when its
objects outlive the interpreter's teardown; every live module and device is
therefore released, modules first, by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any, Protocol

from ..errors import RuntimeLoadError


class _Releasable(Protocol):
    def release(self) -> None: ...


_lock = threading.Lock()
_instance: list[Any] = []
_devices: dict[str, Any] = {}
_users: weakref.WeakSet[_Releasable] = weakref.WeakSet()


def vm_instance() -> Any:
    """The process's IREE VM instance."""
    import iree.runtime as iree_rt

    with _lock:
        if not _instance:
            _instance.append(iree_rt.VmInstance())
        return _instance[0]


def get_device(driver: str) -> Any:
    """The shared HAL device of ``driver`` (``local-task``, ``cuda``, ``hip``, ``vulkan``)."""
    import iree.runtime as iree_rt

    instance = vm_instance()
    with _lock:
        device = _devices.get(driver)
        if device is None:
            try:
                device = iree_rt.get_driver(driver).create_default_device()
            except (RuntimeError, ValueError) as err:
                raise RuntimeLoadError(f"cannot create an IREE device for driver '{driver}': {err}") from None
            _devices[driver] = device
        del instance
        return device


def register_user(obj: _Releasable) -> None:
    """Have ``obj.release()`` called before the devices go away at exit."""
    _users.add(obj)


@atexit.register
def release_all() -> None:
    """Release every module, then every device and the instance (also safe to call by hand)."""
    for user in list(_users):
        user.release()
    with _lock:
        _devices.clear()
        _instance.clear()
