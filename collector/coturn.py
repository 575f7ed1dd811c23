"""A real coturn on this machine with a generated secret, for `python -m collector demo` and the tests
(Debian's `coturn` package; nothing here is needed when an operator runs their own TURN server)."""

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .turn import Turn


@dataclass
class Coturn:
    process: subprocess.Popen
    turn: Turn
    host: str
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def installed() -> bool:
    return shutil.which("turnserver") is not None


def start(folder: Path, host: str = "", port: int = 0, secret: Optional[str] = None) -> Coturn:
    """coturn listening on host:port (UDP and TCP), relaying on host: loopback peers allowed, no
    TLS, no CLI, its log in `folder`; host by default this machine's own address. Raises
    RuntimeError when it does not come up."""
    host = host or own_address()
    folder.mkdir(parents=True, exist_ok=True)
    port = port or _free_port(host)
    secret = secret or secrets.token_urlsafe(24)
    log = folder / f"coturn-{port}.log"
    relay_ports = 49152 + port % 8000  # a range of its own per instance (several may run at once)
    command = ["turnserver", "-n", "--listening-ip", host, "--relay-ip", host, "--listening-port", str(port),
               "--use-auth-secret", "--static-auth-secret", secret, "--realm", "callstats",
               "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint",
               "--min-port", str(relay_ports), "--max-port", str(relay_ports + 999),
               "--userdb", str(folder / f"coturn-{port}.db"), "--pidfile", str(folder / f"coturn-{port}.pid"),
               "--log-file", str(log), "--simple-log", "--no-stdout-log"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = Coturn(process, Turn(f"turn:{host}:{port}", secret), host, port, log)
    deadline = time.time() + 10
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"coturn exited with {process.returncode} (see {log})")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return found
        except OSError:
            time.sleep(0.05)
    found.stop()
    raise RuntimeError(f"coturn did not listen on {host}:{port} (see {log})")


def own_address() -> str:
    """This machine's IPv4 address on its default route (127.0.0.1 without one). A TURN server
    on loopback serves Chromium but not Firefox, which gathers nothing towards loopback by
    default: tests and the demo run coturn here instead."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 9))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def _free_port(host: str) -> int:
    """A port free for both TCP and UDP."""
    for _ in range(50):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")
