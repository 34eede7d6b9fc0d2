"""A ``.vmfb`` in the IREE runtime: read on load, bound to a device on first call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentError, RuntimeLoadError
from .device_tensor import DeviceTensor
from .device_transfer import mapped_copy, to_device, to_host
from .devices import get_device, register_user, vm_instance
from .signature import Signature, parse_declaration

#: Drivers whose device memory is host memory: numpy arguments are imported without a copy.
HOST_DRIVERS = ("local-task", "local-sync")


class IreeModule:
    """A compiled module's functions in one VM context (so they share its globals: weights, state).

    The flatbuffer is parsed when the module is made (so a damaged one fails on
    load, and the entry's declared signature is known); the device, HAL module,
    parameter archives (``parameters``: scope -> ``.irpa`` file, mapped, not read)
    and VM context are created on the first call.
    """

    def __init__(self, vmfb: bytes, driver: str, entry: str, parameters: Mapping[str, Path] | None = None):
        import iree.runtime as iree_rt

        self.entry = entry
        self.driver = driver
        self._parameters = dict(parameters or {})
        try:
            self._module: Any = iree_rt.VmModule.copy_buffer(vm_instance(), vmfb)
        except (RuntimeError, ValueError) as err:
            raise RuntimeLoadError(f"the IREE runtime rejected the module: {err}") from None
        function = self._module.lookup_function(entry)
        if function is None:
            raise RuntimeLoadError(f"the module has no function '{entry}'")
        self.signature: Signature | None = _signature(function)
        self._functions: dict[str, Any] = {entry: function}
        self._objects: list[Any] = [function]
        self._invokers: dict[str, Any] = {}
        self._context: Any = None
        self._device: Any = None
        register_user(self)

    def signature_of(self, name: str) -> Signature | None:
        """The declared signature of the exported function ``name``; RuntimeLoadError when there is none."""
        return _signature(self._function(name))

    def _function(self, name: str) -> Any:
        if self._module is None:
            raise RuntimeLoadError("the module was released")
        function = self._functions.get(name)
        if function is None:
            function = self._module.lookup_function(name)
            if function is None:
                raise RuntimeLoadError(f"the module has no function '{name}'")
            self._functions[name] = function
            self._objects.append(function)
        return function

    def _bind(self) -> Any:
        import iree.runtime as iree_rt

        if self._module is None:
            raise RuntimeLoadError("the module was released")
        device = get_device(self.driver)
        instance = vm_instance()
        try:
            modules = [iree_rt.create_hal_module(instance, device)]
            if self._parameters:
                providers = []
                for scope, path in self._parameters.items():
                    index = iree_rt.ParameterIndex()
                    index.load(str(path))
                    providers.append(index.create_provider(scope=scope))
                    self._objects.append(index)
                modules.append(iree_rt.create_io_parameters_module(instance, *providers))
            context = iree_rt.VmContext(instance, modules=[*modules, self._module])
        except (RuntimeError, ValueError) as err:
            raise RuntimeLoadError(f"the IREE runtime could not load the module on '{self.driver}': {err}") from None
        self._objects += [*modules, context]
        self._device = device
        self._context = context
        return context

    def _invoker(self, name: str) -> Any:
        import iree.runtime as iree_rt

        invoker = self._invokers.get(name)
        if invoker is None:
            context = self._context or self._bind()
            invoker = iree_rt.FunctionInvoker(context, self._device, self._function(name))
            self._invokers[name] = invoker
        return invoker

    def __call__(self, arrays: Sequence[Any], on_device: bool = False, function: str | None = None) -> list[Any]:
        """Call the entry (or ``function``) with numpy arrays or :class:`DeviceTensor` s; ``on_device`` keeps the results there."""
        invoker = self._invoker(function or self.entry)
        on_host = self.driver in HOST_DRIVERS
        inputs = []
        for index, a in enumerate(arrays):
            if isinstance(a, DeviceTensor):
                try:
                    inputs.append(a.device_array(self.driver))
                except ValueError as err:
                    raise ArgumentError(f"argument {index}: {err}") from None
            else:
                inputs.append(a if on_host else to_device(self._device, a))
        results = invoker(*inputs)
        if not isinstance(results, tuple):
            results = (results,)
        if on_device:
            return [DeviceTensor(r, self._device, self.driver) for r in results]
        # Copied out so no array the caller keeps pins IREE memory past interpreter exit.
        if not on_host:
            return [to_host(self._device, r) if hasattr(r, "_buffer_view") else np.array(r, copy=True) for r in results]
        return [mapped_copy(r) if hasattr(r, "_buffer_view") else np.array(r, copy=True) for r in results]

    def release(self) -> None:
        """Drop the runtime objects now (newest first); the module cannot be called after."""
        self._invokers.clear()
        self._functions.clear()
        self._context = None
        self._device = None
        while self._objects:
            self._objects.pop()
        self._module = None


def _signature(function: Any) -> Signature | None:
    declaration = function.reflection.get("iree.abi.declaration", "")
    return parse_declaration(declaration) if declaration else None
