"""Moving arrays between numpy and a device whose memory is not host memory (GPU drivers).

IREE's Python helpers import numpy buffers into the device (zero copy) where the
allocator says it can, but Vulkan only imports host pointers aligned to its
``minImportedHostPointerAlignment`` (4096 on lavapipe and most GPUs), which numpy's
buffers are not. Here arguments are copied into device buffers and results read
back through a mapped staging buffer, which every driver allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_device(device: Any, array: np.ndarray) -> Any:
    """A device array holding a copy of ``array``."""
    import iree.runtime as iree_rt

    return iree_rt.asdevicearray(device, np.ascontiguousarray(array))


def mapped_copy(result: Any) -> np.ndarray:
    """A numpy copy of ``result`` (a device array in host memory: the CPU drivers'), read where it lies.

    ``DeviceArray.to_host`` does the same through a dozen Python calls (about 30 us a
    result, a sixth of a small model's whole call); a buffer the host cannot map is
    read by it instead.
    """
    import iree.runtime as iree_rt

    view = result._buffer_view
    raw = iree_rt.HalElementType.map_to_dtype(view.element_type)
    try:
        mapped = view.map()
    except (RuntimeError, ValueError):
        return np.array(result.to_host(), copy=True)
    array = np.array(mapped.asarray(view.shape, raw), copy=True)
    del mapped, view
    dtype = result.dtype
    return array.astype(dtype) if dtype != raw else array


def to_host(device: Any, result: Any) -> np.ndarray:
    """A numpy copy of ``result`` (a device array), read through a mapped host staging buffer."""
    import iree.runtime as iree_rt

    view = result._buffer_view  # the device array's buffer view; DeviceArray.to_host would import
    source = view.get_buffer()
    staging = device.allocator.allocate_buffer(
        memory_type=int(iree_rt.MemoryType.HOST_LOCAL | iree_rt.MemoryType.DEVICE_VISIBLE),
        allowed_usage=int(iree_rt.BufferUsage.TRANSFER_TARGET | iree_rt.BufferUsage.MAPPING_SCOPED),
        allocation_size=source.byte_length(),
    )
    semaphore = device.create_semaphore(0)
    device.queue_copy(source, staging, wait_semaphores=iree_rt.HalFence.create_at(semaphore, 0),
                      signal_semaphores=iree_rt.HalFence.create_at(semaphore, 1))
    iree_rt.HalFence.create_at(semaphore, 1).wait()
    dtype = result.dtype
    raw = iree_rt.HalElementType.map_to_dtype(view.element_type)
    mapped = staging.map()
    array = np.array(mapped.asarray(list(view.shape), raw), copy=True)
    del mapped, staging, semaphore, source, view
    return array.astype(dtype) if dtype != raw else array
