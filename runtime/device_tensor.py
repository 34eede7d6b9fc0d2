"""Results kept in device memory, to chain calls without copies through the host.

``model.call_on_device(x)`` returns :class:`DeviceTensor` results; passing one back
as an argument of a model on the same driver hands IREE the device buffer as it is.
``numpy()`` copies one to the host. They are released with the runtime at exit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device_transfer import to_host
from .devices import register_user


class DeviceTensor:
    """A dense result in the memory of one IREE driver's device."""

    def __init__(self, array: Any, device: Any, driver: str):
        self._array: Any = array
        self._device: Any = device
        self.driver = driver
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        register_user(self)

    def numpy(self) -> np.ndarray:
        """A host copy."""
        if self._array is None:
            raise ValueError("the device tensor was released")
        return to_host(self._device, self._array)

    def device_array(self, driver: str) -> Any:
        """The IREE device array, for a call on ``driver`` (another driver cannot read it)."""
        if self._array is None:
            raise ValueError("the device tensor was released")
        if driver != self.driver:
            raise ValueError(f"it lives on driver '{self.driver}', the call runs on '{driver}'; copy it with .numpy()")
        return self._array

    def release(self) -> None:
        """Free the device memory now (the tensor cannot be used after)."""
        self._array = None
        self._device = None

    def __repr__(self) -> str:
        return f"DeviceTensor({self.dtype.name}[{', '.join(map(str, self.shape))}] on {self.driver})"
