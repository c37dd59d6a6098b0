"""Inventory collectors: what software and hardware a host has, as ``InventoryEntry`` rows.

Software: Debian packages from a dpkg status file, Python distributions of an environment
(``sys.path`` entries or a site-packages path), running processes grouped by executable,
and listening ports. Hardware: CPU model and count, memory, disks, file systems and NICs.
Each collector returns its entries or raises ``OSError``/``ValueError`` naming what it
could not read; the service records that and keeps the kind's previous state.
Details hold only what is stable between runs (no pids or counters), so history shows
real changes.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

SOFTWARE_KINDS = ("deb", "python", "process", "port")
HARDWARE_KINDS = ("cpu", "memory", "disk", "filesystem", "nic")
KINDS = SOFTWARE_KINDS + HARDWARE_KINDS
#: dpkg states in which a package's files are on disk.
_PRESENT = {"installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending"}


@dataclass(frozen=True)
class InventoryEntry:
    kind: str
    name: str
    version: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def dpkg_packages(status_path: str | Path) -> list[InventoryEntry]:
    """Packages present per a dpkg status file (``/var/lib/dpkg/status``)."""
    path = Path(status_path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise OSError(f"{path}: cannot read the dpkg status file: {e.strerror or e}") from None
    out: dict[str, InventoryEntry] = {}
    for start, stanza in _stanzas(text):
        fields = _fields(stanza)
        name = fields.get("package")
        if not name:
            raise ValueError(f"{path}:{start}: a stanza without a Package field")
        status = fields.get("status", "").split()
        if not status or status[-1] not in _PRESENT:
            continue
        version = fields.get("version")
        if not version:
            raise ValueError(f"{path}:{start}: package {name} has no Version")
        arch = fields.get("architecture", "")
        key = name if name not in out else f"{name}:{arch}"
        detail = {"architecture": arch, "status": status[-1]}
        if "source" in fields:
            detail["source"] = fields["source"]
        out[key] = InventoryEntry("deb", key, version, detail)
    return list(out.values())


def _stanzas(text: str):
    start, lines = 1, []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not lines:
                start = n
            lines.append(line)
        elif lines:
            yield start, lines
            lines = []
    if lines:
        yield start, lines


def _fields(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    current = None
    for line in lines:
        if line[0] in " \t":
            continue  # continuation of a multi-line field (Description, Conffiles)
        key, sep, value = line.partition(":")
        if sep:
            current = key.strip().lower()
            out[current] = value.strip()
    return out


_NORMALIZE = re.compile(r"[-_.]+")


def normalize_python_name(name: str) -> str:
    """PEP 503: ``Foo.Bar_baz`` → ``foo-bar-baz``."""
    return _NORMALIZE.sub("-", name).lower()


def python_distributions(paths: list[str] | None = None) -> list[InventoryEntry]:
    """Distributions installed on ``paths`` (default this interpreter's ``sys.path``).

    The first one found for a name wins, as at import time.
    """
    search = [p for p in (paths or sys.path) if p and os.path.isdir(p)]
    if paths and not search:
        raise OSError(f"no readable directory among {', '.join(paths)}")
    out: dict[str, InventoryEntry] = {}
    for dist in metadata.distributions(path=search):
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        key = normalize_python_name(name)
        if key in out:
            continue
        where = getattr(dist, "_path", None)
        out[key] = InventoryEntry(
            "python",
            key,
            dist.version,
            {"name": name, "path": str(Path(where).parent) if where else ""},
        )
    return list(out.values())


def processes() -> list[InventoryEntry]:
    """Running processes grouped by executable (kernel threads by name)."""
    groups: dict[str, dict[str, set[str]]] = {}
    for p in psutil.process_iter(["name", "exe", "username"]):
        info = p.info
        exe = info.get("exe") or f"[{info.get('name') or p.pid}]"
        g = groups.setdefault(exe, {"names": set(), "users": set()})
        g["names"].add(info.get("name") or "")
        g["users"].add(info.get("username") or "")
    return [
        InventoryEntry("process", exe, None, {k: sorted(v - {""}) for k, v in g.items()})
        for exe, g in groups.items()
    ]


def listening_ports() -> list[InventoryEntry]:
    """TCP sockets in LISTEN and bound UDP sockets, with the executable where visible."""
    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        raise OSError("listening ports: access denied (run as root to see them)") from None
    out: dict[str, InventoryEntry] = {}
    for c in conns:
        udp = c.type == 2  # SOCK_DGRAM
        if not c.laddr or (not udp and c.status != psutil.CONN_LISTEN) or (udp and c.raddr):
            continue
        proto = "udp" if udp else "tcp"
        host = f"[{c.laddr.ip}]" if ":" in c.laddr.ip else c.laddr.ip
        name = f"{proto}/{host}:{c.laddr.port}"
        exe = ""
        if c.pid:
            try:
                exe = psutil.Process(c.pid).exe()
            except (psutil.Error, OSError):
                exe = ""
        out[name] = InventoryEntry("port", name, None, {"process": exe})
    return list(out.values())


def hardware() -> list[InventoryEntry]:
    out = [
        InventoryEntry("cpu", "cpu", None, {
            "model": _cpu_model(), "logical": psutil.cpu_count(logical=True),
            "physical": psutil.cpu_count(logical=False),
        }),
        InventoryEntry("memory", "memory", None, {
            "total_bytes": psutil.virtual_memory().total, "swap_bytes": psutil.swap_memory().total,
        }),
    ]  # fmt: skip
    block = Path("/sys/block")
    if block.is_dir():
        for dev in sorted(block.iterdir()):
            if dev.name.startswith(("loop", "ram", "zram", "sr")):
                continue
            try:
                size = int((dev / "size").read_text()) * 512
            except (OSError, ValueError):
                continue
            model = _read(dev / "device" / "model")
            rotational = _read(dev / "queue" / "rotational")
            out.append(InventoryEntry("disk", dev.name, None, {
                "size_bytes": size, "model": model, "rotational": rotational == "1",
            }))  # fmt: skip
    for part in psutil.disk_partitions(all=False):
        try:
            total = psutil.disk_usage(part.mountpoint).total
        except OSError:
            total = None
        out.append(InventoryEntry("filesystem", part.mountpoint, None, {
            "device": part.device, "fstype": part.fstype, "total_bytes": total,
        }))  # fmt: skip
    stats = psutil.net_if_stats()
    for nic, addrs in psutil.net_if_addrs().items():
        st = stats.get(nic)
        mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), "")
        ips = sorted(a.address for a in addrs if a.family != psutil.AF_LINK)
        out.append(InventoryEntry("nic", nic, None, {
            "mac": mac, "addresses": ips, "mtu": st.mtu if st else None,
            "speed_mbps": st.speed if st else None,
        }))  # fmt: skip
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
