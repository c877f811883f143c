"""Facts about the machine being measured: device names, memory, cache sizes and software versions."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from idealrt.simulator.errors import UserError

CPU_CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")
_SIZE_SUFFIXES = {"K": 1024, "M": 1024**2, "G": 1024**3}


@dataclass(frozen=True)
class DeviceFacts:
    kind: str  # "cpu" or "cuda"
    name: str
    vendor: str
    memory_bytes: float
    last_level_cache_bytes: float | None
    memory_source: str
    cache_source: str
    vector_bytes: int | None = None  # a CPU's SIMD width, as torch's kernels dispatch on it
    vector_source: str = ""


# Register width in bytes of the SIMD levels torch dispatches its CPU kernels on (others: none modelled).
VECTOR_BYTES = {"AVX2": 32, "AVX512": 64, "SVE256": 32}


def resolve_device(device: str) -> torch.device:
    """`cpu` or `cuda` (the first visible GPU); a clear error when CUDA is asked for and absent."""
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device visible (torch.cuda.is_available() is False)")
        return torch.device("cuda", 0)
    raise UserError(f"--device must be 'cpu' or 'cuda', got '{device}'")


def device_facts(device: torch.device) -> DeviceFacts:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        l2 = getattr(props, "L2_cache_size", 0) or None
        return DeviceFacts(
            kind="cuda",
            name=props.name,
            vendor="NVIDIA",
            memory_bytes=float(props.total_memory),
            last_level_cache_bytes=float(l2) if l2 else None,
            memory_source="torch.cuda.get_device_properties().total_memory",
            cache_source="torch.cuda.get_device_properties().L2_cache_size",
        )
    name, vendor = _cpu_name_and_vendor()
    capability = torch.backends.cpu.get_cpu_capability()
    return DeviceFacts(
        kind="cpu",
        name=name,
        vendor=vendor,
        memory_bytes=_meminfo_total_bytes(),
        last_level_cache_bytes=cpu_last_level_cache_bytes(),
        memory_source="/proc/meminfo MemTotal",
        cache_source=f"{CPU_CACHE_DIR}/index*/size (highest level)",
        vector_bytes=VECTOR_BYTES.get(capability),
        vector_source=f"torch.backends.cpu.get_cpu_capability() = {capability} (the SIMD level torch's CPU kernels "
        "dispatch on)",
    )


def cpu_last_level_cache_bytes() -> float | None:
    """Size of the highest-level data/unified cache cpu0 reports in sysfs; None when sysfs lacks it."""
    best: tuple[int, float] | None = None
    for index in sorted(CPU_CACHE_DIR.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text().strip())
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and (best is None or level > best[0]):
            best = (level, size)
    return None if best is None else best[1]


def software_versions(device: torch.device, threads: int) -> str:
    parts = [f"python {platform.python_version()}", f"torch {torch.__version__}", f"threads {threads}"]
    if device.type == "cuda":
        parts.append(f"CUDA {torch.version.cuda}")
        parts.append(f"cuDNN {torch.backends.cudnn.version()}")
        driver = _nvidia_driver_version()
        if driver:
            parts.append(f"driver {driver}")
    else:
        parts.append(f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    return ", ".join(parts)


def _parse_size(text: str) -> float:
    suffix = text[-1].upper()
    if suffix in _SIZE_SUFFIXES:
        return float(text[:-1]) * _SIZE_SUFFIXES[suffix]
    return float(text)


def _cpu_name_and_vendor() -> tuple[str, str]:
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(fields.get("vendor_id", ""), name.split()[0])
    return name, vendor


def _meminfo_total_bytes() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return float(line.split()[1]) * 1024  # the kernel's "kB" is KiB
    raise UserError("/proc/meminfo has no MemTotal line; cannot size the CPU's memory")


def _nvidia_driver_version() -> str | None:
    path = Path("/proc/driver/nvidia/version")
    if not path.exists():
        return None
    first = path.read_text().splitlines()[0]
    words = [w for w in first.split() if w[:1].isdigit() and "." in w]
    return words[0] if words else None
