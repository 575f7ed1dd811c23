"""Real servers for browser tests and benchmarks: the collector, and an app origin for test pages.

Both are `python -m collector serve` processes over TLS + HTTP/2 on loopback, on different ports
(so pages are cross-origin to the collector, as in production). Chromium trusts the collector's
self-signed certificate by its SPKI hash; the app server reuses the same certificate.
"""

import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str  # https://host:port/ (with the trailing slash)
    spki: str
    data_dir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_collector(data_dir: Path, dist: Path = ROOT / "dist", host: str = "127.0.0.1", port: int = 0,
                    extra: tuple = ()) -> Server:
    port = port or free_port()
    cmd = [sys.executable, "-m", "collector", "serve", "--host", host, "--port", str(port),
           "--data-dir", str(data_dir), "--dist", str(dist), *extra]
    log = open(data_dir.parent / f"server-{port}.log", "w") if data_dir.parent.exists() else subprocess.DEVNULL
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    spki = None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"collector exited: {process.poll()} (see {log.name if log else 'stderr'})")
        found = re.search(r"SPKI sha256: (\S+)", line)
        if found:
            spki = found.group(1)
            break
    _wait_listening(host, port, deadline)
    return Server(process, f"https://{host}:{port}/", spki, data_dir)


def _wait_listening(host: str, port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")
