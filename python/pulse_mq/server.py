"""``PulseMQServer``: start the PulseMQ broker from Python, as in the seed README.

    from pulse_mq import PulseMQServer

    PulseMQServer().run()                                        # zero configuration
    PulseMQServer(pub_port=6000, admin_port=9090, log_level="debug").run()
    PulseMQServer(Config(server=ServerConfig(pub_port=6000))).run()

It runs the real broker — the ``pulsemq`` binary that the ``pulse-mq`` wheel installs next to
this package (or ``PULSEMQ_BIN``, or ``pulsemq`` on ``PATH``) — not a Python reimplementation:
the same ports, database, admin API and console as ``pulsemq`` started from a shell. ``run()``
blocks in the foreground until the broker stops (Ctrl-C stops it cleanly); ``start()`` /
``stop()`` (or ``with PulseMQServer(...) as s:``) run it in the background, for notebooks and
tests, with the ports it really bound (``pub_port=0`` picks a free one) read from its banner.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from .config import Config

__all__ = ["PulseMQServer", "BrokerNotFoundError", "find_broker"]

# Keyword overrides that are the broker's own command-line flags (CLI > YAML > defaults).
_FLAGS = {"host": "--host", "pub_port": "--pub-port", "sub_port": "--sub-port",
          "admin_port": "--admin-port", "log_level": "--log-level", "db_path": "--db-path"}
_BANNER_PORT = re.compile(r"^\s*(Command|Delivery)\s*:\s*tcp://[^:]+:(\d+)")
_BANNER_ADMIN = re.compile(r"^\s*Admin\s*:\s*(http://\S+)")
_EXE = "pulsemq.exe" if os.name == "nt" else "pulsemq"


class BrokerNotFoundError(FileNotFoundError):
    """No ``pulsemq`` binary to start."""


def find_broker() -> Path:
    """The broker binary: ``PULSEMQ_BIN``, else the one installed with this package (the
    wheel's script), else ``pulsemq`` on ``PATH``."""
    env = os.environ.get("PULSEMQ_BIN")
    if env:
        p = Path(env)
        if p.is_file():
            return p
        raise BrokerNotFoundError(f"PULSEMQ_BIN={env} is not a file")
    candidates = [Path(sysconfig.get_path("scripts")) / _EXE, Path(sys.executable).parent / _EXE]
    user = sysconfig.get_path("scripts", f"{os.name}_user") if os.name != "nt" else None
    if user:
        candidates.append(Path(user) / _EXE)
    for p in candidates:
        if p.is_file() and os.access(p, os.X_OK):
            return p
    on_path = shutil.which("pulsemq")
    if on_path:
        return Path(on_path)
    raise BrokerNotFoundError(
        "the pulsemq broker binary was not found: install the pulse-mq wheel (it carries the broker), "
        "put pulsemq on PATH (cargo build --release -p pulsemq), or set PULSEMQ_BIN")


class PulseMQServer:
    """The PulseMQ broker as a child process (see the module documentation).

    ``config``: a :class:`pulse_mq.config.Config` (written to a YAML file the broker reads).
    Keyword overrides — ``host``, ``pub_port``, ``sub_port``, ``admin_port``, ``log_level``,
    ``db_path`` — become the broker's command-line flags and win over ``config``.
    ``config_file``: an existing YAML file instead of ``config``. ``binary``: the broker to run
    (default: :func:`find_broker`). ``cwd``: where a relative ``db_path`` and ``logs`` land
    (default: the current directory, like ``pulsemq`` in a shell).
    """

    def __init__(self, config: Optional[Config] = None, *, config_file: Optional[str] = None,
                 binary: Optional[str] = None, cwd: Optional[str] = None, **overrides):
        unknown = sorted(set(overrides) - set(_FLAGS))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}: pass {', '.join(_FLAGS)} as keywords, "
                            "anything else in a Config")
        if config is not None and config_file is not None:
            raise TypeError("pass config or config_file, not both")
        self.config = config
        self.config_file = config_file
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self.binary = Path(binary) if binary else None
        self.cwd = cwd
        self.proc: Optional[subprocess.Popen] = None
        self.pub_port: Optional[int] = None
        self.sub_port: Optional[int] = None
        self.admin_url: Optional[str] = None
        self.banner: List[str] = []
        self._tmp: Optional[tempfile.TemporaryDirectory] = None

    # -- the command line -----------------------------------------------------------------------
    def command(self) -> List[str]:
        """The broker's command line (writes the YAML of ``config`` to a temporary file)."""
        cmd = [str(self.binary or find_broker())]
        cfg = self.config_file
        if self.config is not None:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="pulsemq-")
            path = Path(self._tmp.name) / "config.yaml"
            path.write_text(self.config.to_yaml(), encoding="utf-8")
            cfg = str(path)
        if cfg:
            cmd += ["--config", str(cfg)]
        for key, value in self.overrides.items():
            cmd += [_FLAGS[key], str(value)]
        return cmd

    # -- foreground -----------------------------------------------------------------------------
    def run(self) -> int:
        """Runs the broker in the foreground, its output on this process's, until it stops;
        Ctrl-C (or SIGTERM to this process) stops it cleanly. Returns its exit code."""
        proc = subprocess.Popen(self.command(), cwd=self.cwd)
        self.proc = proc
        previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
        if previous is not None:
            signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        try:
            while True:
                try:
                    return proc.wait()
                except KeyboardInterrupt:
                    # The terminal sent SIGINT to the broker too; make sure, then wait for it.
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGINT)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self._cleanup()

    # -- background -----------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> "PulseMQServer":
        """Starts the broker in the background and returns once its banner showed its ports."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("already running")
        self.banner = []
        self.proc = subprocess.Popen(self.command(), cwd=self.cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        ready = threading.Event()
        threading.Thread(target=self._read_output, args=(self.proc, ready), daemon=True,
                         name="pulsemq-output").start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None:
                out = "\n".join(self.banner[-20:])
                raise RuntimeError(f"the broker exited with code {self.proc.returncode} at start-up:\n{out}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the broker showed no banner within {timeout:.0f} s")
        return self

    def _read_output(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        assert proc.stdout is not None
        seen_ports = False
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if not ready.is_set():
                self.banner.append(line)
                m = _BANNER_PORT.match(line)
                if m:
                    port = int(m.group(2))
                    if m.group(1) == "Command":
                        self.pub_port = port
                    else:
                        self.sub_port = port
                m = _BANNER_ADMIN.match(line)
                if m:
                    self.admin_url = m.group(1)
                if self.pub_port and self.sub_port and self.admin_url:
                    seen_ports = True
                if seen_ports and line.startswith("====="):
                    ready.set()

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """Stops a background broker (SIGINT: it flushes its database writer and exits 0)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._cleanup()
        return proc.returncode

    def credentials(self) -> Dict[str, str]:
        """The first start's ``.pulsemq_admin`` (username, password, token, user_type), next to
        the database (``db_path``; default ``./pulsemq.db`` in ``cwd``)."""
        db = self.overrides.get("db_path") or (self.config.storage.db_path if self.config else None) or "pulsemq.db"
        path = Path(self.cwd or ".") / Path(db).parent / ".pulsemq_admin"
        out = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return out

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "PulseMQServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
