"""Real servers for browser tests and benchmarks: the collector, and an app origin for test pages.

Both are `python -m collector serve` processes over TLS + HTTP/2 on loopback, on different ports
(so pages are cross-origin to the collector, as in production). Chromium trusts the collector's
self-signed certificate by its SPKI hash, Firefox's test context accepts it
(playwright.config.py); the app server reuses the same certificate.
"""

import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_async(coroutine):
    """asyncio.run() in a thread of its own: the browser tests' Playwright keeps an event loop
    running on the main thread for the whole session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


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
        """The server and every process it started (granian's workers): its process group."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole group at once: a machine that dies, workers and all."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def start_collector(data_dir: Path, dist: Path = ROOT / "dist", host: str = "127.0.0.1", port: int = 0,
                    extra: tuple = ()) -> Server:
    port = port or free_port()
    cmd = [sys.executable, "-m", "collector", "serve", "--host", host, "--port", str(port),
           "--data-dir", str(data_dir), "--dist", str(dist), *extra]
    log = open(data_dir.parent / f"server-{port}.log", "w") if data_dir.parent.exists() else subprocess.DEVNULL
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
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
    wait_listening(host, port, deadline)
    return Server(process, f"https://{host}:{port}/", spki, data_dir)


def start_page_server(collector: Server, pages: Path, data_dir: Path) -> Server:
    """Another origin (a port of its own on loopback) serving the files in `pages`, with the
    collector's certificate, the one the browser is told to trust: the page's own site."""
    cert = ("--certfile", str(collector.data_dir / "collector-cert.pem"),
            "--keyfile", str(collector.data_dir / "collector-key.pem"))
    return start_collector(data_dir, dist=pages, extra=cert)


def start_balancer(folder: Path, collectors: list[Server]) -> Server:
    """Debian's haproxy with deploy/haproxy.cfg as shipped, in front of `collectors` (two), with the
    first one's certificate; ready once its health checks see every collector up."""
    pem = folder / "site.pem"
    pem.write_text((collectors[0].data_dir / "collector-cert.pem").read_text()
                   + (collectors[0].data_dir / "collector-key.pem").read_text())
    port, stats_socket = free_port(), folder / "haproxy.sock"
    config = (ROOT / "deploy" / "haproxy.cfg").read_text() + f"\nglobal\n    stats socket {stats_socket}\n"
    (folder / "haproxy.cfg").write_text(config)
    env = {**os.environ, "COLLECTOR_BIND": f"127.0.0.1:{port}", "COLLECTOR_PEM": str(pem),
           **{f"COLLECTOR_{i + 1}": c.url.removeprefix("https://").rstrip("/") for i, c in enumerate(collectors)}}
    process = subprocess.Popen(["haproxy", "-db", "-f", str(folder / "haproxy.cfg")], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=open(folder / "haproxy.log", "w"))
    deadline = time.time() + 30
    wait_listening("127.0.0.1", port, deadline)
    while _servers_up(stats_socket) < len(collectors):
        if time.time() > deadline:
            raise RuntimeError(f"haproxy never saw the collectors up (see {folder / 'haproxy.log'})")
        time.sleep(0.2)
    return Server(process, f"https://127.0.0.1:{port}/", collectors[0].spki, folder)


def _servers_up(stats_socket: Path) -> int:
    """How many of haproxy's servers pass their health check (its runtime API: `show stat`)."""
    try:
        with socket.socket(socket.AF_UNIX) as unix:
            unix.connect(str(stats_socket))
            unix.sendall(b"show stat\n")
            answer = b"".join(iter(lambda: unix.recv(65536), b"")).decode()
    except OSError:
        return 0
    return sum(1 for line in answer.splitlines() if line.startswith("collectors,collector") and ",UP," in line)


def run_cli(*args: str) -> dict:
    """python -m collector <args>, whose last stdout line is JSON."""
    done = subprocess.run([sys.executable, "-m", "collector", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"collector {' '.join(args)}: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Postgres:
    """A throwaway PostgreSQL cluster (Debian's binaries) on a free port, in its own folder."""

    def __init__(self):
        # its own folder directly in /tmp: the postgres user must reach it (pytest's tmp is root-only)
        folder = Path(tempfile.mkdtemp(prefix="collector-pg-"))
        bin_dir = max(Path("/usr/lib/postgresql").glob("*/bin"), default=None)
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin, self.folder, self.port = bin_dir, folder, free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(folder, "postgres")
        self._run("initdb", "-D", str(folder / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "start",
                  "-o", f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True)


def wait_listening(host: str, port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")
