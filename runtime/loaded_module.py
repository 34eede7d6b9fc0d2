"""A ``.vmfb`` loaded into the IREE runtime, callable with numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import iree.runtime as iree_rt
import numpy as np

from ..errors import RuntimeLoadError
from .devices import get_device, register_user


class LoadedModule:
    """One entry function of a compiled module on one device."""

    def __init__(self, vmfb: bytes, driver: str, entry: str):
        self.entry = entry
        device = get_device(driver)
        try:
            hal = iree_rt.create_hal_module(device.instance, device.hal_device)
            module = iree_rt.VmModule.copy_buffer(device.instance, vmfb)
            context = iree_rt.VmContext(device.instance, modules=[hal, module])
        except (RuntimeError, ValueError) as err:
            raise RuntimeLoadError(f"the IREE runtime rejected the module: {err}") from None
        function = module.lookup_function(entry)
        if function is None:
            raise RuntimeLoadError(f"the module has no function '{entry}'")
        self._objects: list[Any] = [hal, module, context, function]
        self._invoker: Any = iree_rt.FunctionInvoker(context, device.hal_device, function)
        register_user(self)

    def __call__(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._invoker is None:
            raise RuntimeLoadError("the module was released")
        results = self._invoker(*arrays)
        if not isinstance(results, tuple):
            results = (results,)
        # Copied out so no array the caller keeps pins IREE memory past interpreter exit.
        return [np.array(r.to_host() if hasattr(r, "to_host") else r, copy=True) for r in results]

    def release(self) -> None:
        """Drop the runtime objects now (newest first); the module cannot be called after."""
        self._invoker = None
        while self._objects:
            self._objects.pop()
