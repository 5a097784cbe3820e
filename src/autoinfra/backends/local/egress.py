"""Egress of each local machine, measured at a sink as flow records at a gateway would be.

Every machine has its own loopback address for outbound traffic, ``127.0.<10+slot>.1`` (all of
127.0.0.0/8 is loopback on Linux, so nothing leaves the host). The :class:`EgressTap` is a UDP
sink on 127.0.0.1 that counts the bytes arriving per source address: the per-host egress a
NetFlow collector would report. Services answer their clients and send nothing out, so a
machine's egress is normally near zero, and an intruder exfiltrating data stands out.

The intruder that sends to it is ``intruder.py``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import numpy as np

__all__ = ["EgressTap", "machine_source_addr"]


def machine_source_addr(slot: int) -> str:
    return f"127.0.{10 + slot}.1"


class EgressTap:
    """UDP sink on 127.0.0.1 counting bytes per machine source address."""

    def __init__(self, n_machines: int) -> None:
        self.n = n_machines
        self._by_addr = {machine_source_addr(m): m for m in range(n_machines)}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.bytes = np.zeros(n_machines, dtype=np.float64)
        self._lock = threading.Lock()
        self._prev: tuple[float, np.ndarray] = (time.monotonic(), self.bytes.copy())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray(65536)
        while not self._stop.is_set():
            try:
                n, (addr, _port) = self.sock.recvfrom_into(buf)
            except TimeoutError:
                continue
            except OSError:
                return
            m = self._by_addr.get(addr)
            if m is not None:
                with self._lock:
                    self.bytes[m] += n

    def mbps(self) -> np.ndarray:
        """Egress per machine in Mbit/s since the previous call."""
        now = time.monotonic()
        with self._lock:
            cur = self.bytes.copy()
        t0, b0 = self._prev
        self._prev = (now, cur)
        dt = now - t0
        if dt <= 1e-3:
            return np.zeros(self.n, dtype=np.float32)
        return ((cur - b0) * 8 / 1e6 / dt).astype(np.float32)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        with contextlib.suppress(OSError):
            self.sock.close()
