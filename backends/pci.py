"""Framework-free PCI bus id helpers the backends share: NVML's id format, and the CUDA driver's id of an ordinal."""

from __future__ import annotations

import ctypes
import re

BUS_ID = re.compile(r"^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")
"""domain:bus:device.function in hex (domain optional), as CUDA, NVML, sysfs and TF's device description write it."""


def nvml_bus_id(domain: int, bus: int, device: int, function: int = 0) -> str:
    """The id in NVML's nvmlPciInfo_t.busId form: '00000000:3B:00.0'."""
    return f"{domain:08X}:{bus:02X}:{device:02X}.{function:X}"


def normalize_bus_id(text: str) -> str | None:
    """Any 'domain:bus:device.function' spelling as NVML's form, or None if `text` is not a PCI bus id."""
    match = BUS_ID.match(text.strip())
    if not match:
        return None
    domain, bus, device, function = (int(part or "0", 16) for part in match.groups())
    return nvml_bus_id(domain, bus, device, function)


def driver_bus_id(ordinal: int) -> tuple[str | None, str]:
    """(bus id, how) of CUDA device `ordinal` (as CUDA_VISIBLE_DEVICES numbers it) from libcuda's
    cuDeviceGetPCIBusId; (None, why) where the driver library is absent or refuses."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return None, f"no CUDA driver library (libcuda.so.1: {exc})"
    device, buffer = ctypes.c_int(), ctypes.create_string_buffer(64)
    for call, args in (("cuInit", (0,)), ("cuDeviceGet", (ctypes.byref(device), ordinal)),
                       ("cuDeviceGetPCIBusId", (buffer, 64, device))):
        code = getattr(cuda, call)(*args)
        if code != 0:
            return None, f"CUDA driver {call} returned error {code} for ordinal {ordinal}"
    bus_id = normalize_bus_id(buffer.value.decode())
    return bus_id, f"CUDA driver cuDeviceGetPCIBusId(ordinal {ordinal})"
