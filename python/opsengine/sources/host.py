"""The host collector: this machine's CPU, load, memory, disks, network and processes via
psutil, every ``interval_s`` (10 s), as one Arrow batch per tick into ``metrics``.

Names follow node-exporter habits with explicit units (``*_percent``, ``*_bytes``,
``*_per_second``, ``*_total`` for counters); labels name the core, mount, device,
interface, direction or process. ``HOST_METRICS`` lists them all with their labels. Rates and CPU percentages are deltas between ticks,
computed here from the kernel's counters, so the first tick after start carries none of
them. The cost of a tick (collector thread CPU time) is kept in ``status()``; run
``python -m opsengine.sources.host --ticks 6`` to measure it on a machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psutil
import pyarrow as pa

from opsengine.sources.background import BackgroundLoop

log = logging.getLogger(__name__)

_MAP = pa.map_(pa.string(), pa.string())

#: Every series the collector emits: name → (labels, meaning). Rules and dashboards use these.
HOST_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "cpu_usage_percent": ((), "busy CPU time (not idle or iowait) since the last tick"),
    "cpu_iowait_percent": ((), "CPU time waiting for I/O since the last tick"),
    "cpu_steal_percent": ((), "CPU time taken by the hypervisor since the last tick"),
    "cpu_core_usage_percent": (("cpu",), "busy time of one core since the last tick"),
    "cpu_count": ((), "logical CPUs"),
    "load1": ((), "1-minute load average"),
    "load5": ((), "5-minute load average"),
    "load15": ((), "15-minute load average"),
    "memory_total_bytes": ((), "physical memory"),
    "memory_available_bytes": ((), "memory available without swapping"),
    "memory_used_bytes": ((), "total minus available"),
    "memory_used_percent": ((), "used share of memory"),
    "swap_total_bytes": ((), "swap space"),
    "swap_used_bytes": ((), "swap in use"),
    "swap_used_percent": ((), "used share of swap"),
    "swap_in_bytes_total": ((), "bytes swapped in since boot (counter)"),
    "swap_out_bytes_total": ((), "bytes swapped out since boot (counter)"),
    "disk_total_bytes": (("mount", "device", "fstype"), "size of a mounted file system"),
    "disk_free_bytes": (("mount", "device", "fstype"), "space free to unprivileged users"),
    "disk_used_percent": (("mount", "device", "fstype"), "used share of a file system"),
    "disk_inodes_used_percent": (("mount", "device", "fstype"), "used share of inodes"),
    "disk_read_bytes_per_second": (("device",), "bytes read per second since the last tick"),
    "disk_write_bytes_per_second": (("device",), "bytes written per second"),
    "disk_reads_per_second": (("device",), "read operations per second"),
    "disk_writes_per_second": (("device",), "write operations per second"),
    "net_receive_bytes_per_second": (("interface",), "bytes received per second"),
    "net_transmit_bytes_per_second": (("interface",), "bytes sent per second"),
    "net_errors_total": (("interface", "direction"), "errors since boot (a counter)"),
    "net_drops_total": (("interface", "direction"), "dropped packets since boot (a counter)"),
    "process_count": ((), "processes running"),
    "process_cpu_percent": (("pid", "process"), "top processes: CPU since the last tick"),
    "process_memory_rss_bytes": (("pid", "process"), "top processes: resident memory"),
    "process_memory_percent": (("pid", "process"), "top processes: share of memory"),
    "boot_time_seconds": ((), "boot time, seconds since the epoch"),
    "uptime_seconds": ((), "seconds since boot"),
}
# Pseudo and read-only image file systems: their "usage" is always full and means nothing.
_SKIP_FSTYPES = {"squashfs", "iso9660", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs"}
_SKIP_DISK_PREFIXES = ("loop", "ram", "zram", "sr")
# CPU time fields that are not work: the rest of the total is "busy".
_IDLE_FIELDS = ("idle", "iowait")


def _cpu_busy_percent(before, after) -> tuple[float, float, float] | None:
    """(busy %, iowait %, steal %) between two ``psutil.cpu_times`` samples."""
    deltas = {f: getattr(after, f) - getattr(before, f) for f in after._fields}
    total = sum(v for k, v in deltas.items() if k not in ("guest", "guest_nice"))
    if total <= 0:
        return None
    idle = sum(deltas.get(f, 0.0) for f in _IDLE_FIELDS)
    return (
        100.0 * (total - idle) / total,
        100.0 * deltas.get("iowait", 0.0) / total,
        100.0 * deltas.get("steal", 0.0) / total,
    )


class _Batch:
    """Rows of one tick: (name, labels, value)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.labels: list[list[tuple[str, str]]] = []
        self.values: list[float] = []

    def add(self, name: str, value: float, **labels: str) -> None:
        self.names.append(name)
        self.labels.append(list(labels.items()))
        self.values.append(float(value))

    def table(self, ts: datetime, host: str) -> pa.Table:
        n = len(self.names)
        return pa.table(
            {
                "ts": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
                "host": pa.array([host] * n, pa.string()),
                "name": pa.array(self.names, pa.string()),
                "labels": pa.array(self.labels, _MAP),
                "value": pa.array(self.values, pa.float64()),
            }
        )


class HostCollector(BackgroundLoop):
    """Collects this host's metrics; ``collect()`` is one tick, ``start()`` runs them."""

    thread_name = "opsengine-host"

    def __init__(
        self,
        ingest: Callable[[pa.Table], Any],
        *,
        interval_s: float = 10,
        top_processes: int = 5,
        host: str | None = None,
    ) -> None:
        super().__init__()
        if interval_s < 1:
            raise ValueError(f"host.interval_s: must be at least 1 second, got {interval_s}")
        self.ingest = ingest
        self.interval_s = interval_s
        self.top_processes = max(0, min(int(top_processes), 50))
        self.host = host or socket.gethostname()
        self.ticks = 0
        self.errors = 0
        self.cpu_seconds = 0.0  # collector thread CPU time over all ticks
        self.last_rows = 0
        self._prev_at = time.monotonic()
        self._prev_cpu = psutil.cpu_times()
        self._prev_cores = psutil.cpu_times(percpu=True)
        self._prev_disk = self._disk_counters()
        self._prev_net = psutil.net_io_counters(pernic=True)
        self._prev_proc, _ = self._scan_processes()

    # -- lifecycle -------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        per_tick = self.cpu_seconds / self.ticks if self.ticks else 0.0
        return {
            "where": f"{self.host} every {self.interval_s:g}s",
            "ticks": self.ticks,
            "errors": self.errors,
            "rows_per_tick": self.last_rows,
            "cpu_ms_per_tick": round(per_tick * 1000, 2),
            "cpu_percent_of_core": round(100 * per_tick / self.interval_s, 3),
        }

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.tick()
            next_at += self.interval_s
            # After a stall (suspend, overload) skip missed ticks instead of bursting.
            next_at = max(next_at, time.monotonic())
            self._stop.wait(next_at - time.monotonic())

    def tick(self) -> int:
        """Collect and ingest one batch; returns its rows (0 after a logged failure)."""
        started = time.thread_time()
        try:
            table = self.collect()
            self.ingest(table)
            rows = table.num_rows
        except Exception:
            self.errors += 1
            log.exception("host collector: tick failed")
            rows = 0
        self.cpu_seconds += time.thread_time() - started
        self.ticks += 1
        self.last_rows = rows
        return rows

    # -- one tick ------------------------------------------------------------------
    def collect(self, now: datetime | None = None) -> pa.Table:
        """This host's metrics now, as a table (ts, host, name, labels, value)."""
        b = _Batch()
        at = time.monotonic()
        dt = at - self._prev_at
        self._cpu(b)
        self._memory(b)
        self._disks(b, dt)
        self._network(b, dt)
        self._processes(b)
        boot = psutil.boot_time()
        b.add("boot_time_seconds", boot)
        b.add("uptime_seconds", time.time() - boot)
        self._prev_at = at
        return b.table(now or datetime.now(UTC), self.host)

    def _cpu(self, b: _Batch) -> None:
        cpu, cores = psutil.cpu_times(), psutil.cpu_times(percpu=True)
        total = _cpu_busy_percent(self._prev_cpu, cpu)
        if total is not None:
            b.add("cpu_usage_percent", total[0])
            b.add("cpu_iowait_percent", total[1])
            b.add("cpu_steal_percent", total[2])
        for i, (before, after) in enumerate(zip(self._prev_cores, cores, strict=False)):
            core = _cpu_busy_percent(before, after)
            if core is not None:
                b.add("cpu_core_usage_percent", core[0], cpu=str(i))
        self._prev_cpu, self._prev_cores = cpu, cores
        b.add("cpu_count", len(cores))
        for name, value in zip(("load1", "load5", "load15"), os.getloadavg(), strict=True):
            b.add(name, value)

    def _memory(self, b: _Batch) -> None:
        mem, swap = psutil.virtual_memory(), psutil.swap_memory()
        b.add("memory_total_bytes", mem.total)
        b.add("memory_available_bytes", mem.available)
        b.add("memory_used_bytes", mem.total - mem.available)
        b.add("memory_used_percent", mem.percent)
        b.add("swap_total_bytes", swap.total)
        b.add("swap_used_bytes", swap.used)
        b.add("swap_used_percent", swap.percent)
        # Counters since boot; the swap_storm rule takes their rate().
        b.add("swap_in_bytes_total", swap.sin)
        b.add("swap_out_bytes_total", swap.sout)

    def _disks(self, b: _Batch, dt: float) -> None:
        seen = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _SKIP_FSTYPES or part.mountpoint in seen:
                continue
            seen.add(part.mountpoint)
            try:
                usage = psutil.disk_usage(part.mountpoint)
                st = os.statvfs(part.mountpoint)
            except OSError:
                continue  # unmounted or unreadable since listing
            labels = {"mount": part.mountpoint, "device": part.device, "fstype": part.fstype}
            b.add("disk_total_bytes", usage.total, **labels)
            b.add("disk_free_bytes", usage.free, **labels)
            b.add("disk_used_percent", usage.percent, **labels)
            if st.f_files:
                used = st.f_files - st.f_ffree
                b.add("disk_inodes_used_percent", 100.0 * used / st.f_files, **labels)
        counters = self._disk_counters()
        if dt > 0:
            for dev, now in counters.items():
                before = self._prev_disk.get(dev)
                if before is None:
                    continue
                for name, field in (
                    ("disk_read_bytes_per_second", "read_bytes"),
                    ("disk_write_bytes_per_second", "write_bytes"),
                    ("disk_reads_per_second", "read_count"),
                    ("disk_writes_per_second", "write_count"),
                ):
                    delta = getattr(now, field) - getattr(before, field)
                    b.add(name, max(delta, 0) / dt, device=dev)
        self._prev_disk = counters

    @staticmethod
    def _disk_counters() -> dict[str, Any]:
        try:
            counters = psutil.disk_io_counters(perdisk=True) or {}
        except (OSError, RuntimeError):  # no /proc/diskstats (some containers)
            return {}
        return {d: c for d, c in counters.items() if not d.startswith(_SKIP_DISK_PREFIXES)}

    def _network(self, b: _Batch, dt: float) -> None:
        counters = psutil.net_io_counters(pernic=True)
        for nic, now in counters.items():
            for direction, errors, drops in (
                ("receive", now.errin, now.dropin),
                ("transmit", now.errout, now.dropout),
            ):
                b.add("net_errors_total", errors, interface=nic, direction=direction)
                b.add("net_drops_total", drops, interface=nic, direction=direction)
            before = self._prev_net.get(nic)
            if before is not None and dt > 0:
                rx = max(now.bytes_recv - before.bytes_recv, 0) / dt
                tx = max(now.bytes_sent - before.bytes_sent, 0) / dt
                b.add("net_receive_bytes_per_second", rx, interface=nic)
                b.add("net_transmit_bytes_per_second", tx, interface=nic)
        self._prev_net = counters

    @staticmethod
    def _scan_processes() -> tuple[dict[tuple[int, float], float], list[tuple]]:
        """CPU seconds per (pid, start time), and rows of (pid, name, cpu seconds, rss)."""
        cpu: dict[tuple[int, float], float] = {}
        rows = []
        for p in psutil.process_iter(["name", "cpu_times", "memory_info", "create_time"]):
            info = p.info
            times, mem = info.get("cpu_times"), info.get("memory_info")
            if times is None or mem is None:
                continue  # exited meanwhile, or not ours to read
            used = times.user + times.system
            cpu[(p.pid, info.get("create_time") or 0.0)] = used
            rows.append((p.pid, info.get("name") or "?", used, mem.rss))
        return cpu, rows

    def _processes(self, b: _Batch) -> None:
        """Process count, and the top processes by CPU (since the last tick) and by memory."""
        cpu_now, rows = self._scan_processes()
        b.add("process_count", len(rows))
        elapsed = max(time.monotonic() - self._prev_at, 1e-9)
        prev = self._prev_proc
        self._prev_proc = cpu_now
        if not self.top_processes:
            return
        # CPU used since the last tick; a process started since then counts from its start.
        busy = [
            (pid, name, used - prev.get(key, 0.0))
            for (pid, name, used, _), key in zip(rows, cpu_now, strict=True)
        ]
        for pid, name, cpu in sorted(busy, key=lambda r: -r[2])[: self.top_processes]:
            b.add("process_cpu_percent", 100.0 * cpu / elapsed, pid=str(pid), process=name)
        total = psutil.virtual_memory().total or 1
        for pid, name, _, rss in sorted(rows, key=lambda r: -r[3])[: self.top_processes]:
            labels = {"pid": str(pid), "process": name}
            b.add("process_memory_rss_bytes", rss, **labels)
            b.add("process_memory_percent", 100.0 * rss / total, **labels)


def _measure(argv: list[str] | None = None) -> None:
    """Print the collector's CPU cost per tick at the default interval (no store needed)."""
    parser = argparse.ArgumentParser(prog="python -m opsengine.sources.host")
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args(argv)
    collector = HostCollector(lambda t: t.num_rows, interval_s=args.interval)
    for i in range(args.ticks):
        if i:
            time.sleep(args.interval)
        collector.tick()
    s = collector.status()
    print(
        f"{s['ticks']} ticks, {s['rows_per_tick']} rows per tick, {s['cpu_ms_per_tick']} ms CPU "
        f"per tick = {s['cpu_percent_of_core']}% of one core at a {args.interval:g}s interval"
    )


if __name__ == "__main__":
    _measure()
