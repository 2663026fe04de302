"""Fixtures: the real ``pulsemq`` broker in a temp dir, and a helper to create users and grants.

The binary is ``$PULSEMQ_BIN`` or ``<repo>/target/debug/pulsemq`` (``cargo build -p pulsemq``).
Users and grants go through the admin HTTP API when the broker prints an ``Admin :`` banner line,
otherwise straight into its SQLite database (the broker reloads permissions every
``limits.cache_refresh_sec`` = 1 s, so the helper then waits 1.5 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "debug" / "pulsemq"
FRAMES_JSON = REPO / "shared" / "testdata" / "frames.json"

_BANNER = {
    "command": re.compile(r"^\s*Command\s*:\s*tcp://[^:]+:(\d+)"),
    "delivery": re.compile(r"^\s*Delivery\s*:\s*tcp://[^:]+:(\d+)"),
    "admin": re.compile(r"^\s*Admin\s*:\s*(https?://\S+)"),
}


def broker_binary() -> Path:
    p = Path(os.environ.get("PULSEMQ_BIN", DEFAULT_BIN))
    if not p.exists():
        pytest.fail(f"pulsemq binary not found at {p}: run `cargo build -p pulsemq` or set PULSEMQ_BIN")
    return p


class Broker:
    """One broker process on a temp dir; restartable on the same ports and database."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.dir / "pulsemq.db"
        self.proc: Optional[subprocess.Popen] = None
        self.pub_port = 0
        self.sub_port = 0
        self.admin_url: Optional[str] = None
        self.admin: Dict[str, str] = {}
        self._lines = []
        self._starts = 0
        self.extra_yaml = ""  # more top-level YAML sections, e.g. "broker: {...}\n"

    # -- process ---------------------------------------------------------------------------
    def _write_config(self) -> Path:
        cfg = self.dir / "config.yaml"
        cfg.write_text(
            "server: {host: 127.0.0.1, pub_port: %d, sub_port: %d, admin_port: 0}\n"
            "storage: {db_path: %s}\n"
            "logging: {dir: %s}\n"
            "auth: {ping_interval: 1, ping_timeout: 1}\n"
            "limits: {cache_refresh_sec: 1, max_connections_per_user: 200}\n"
            % (self.pub_port, self.sub_port, json.dumps(str(self.db_path)), json.dumps(str(self.dir / "logs")))
            + self.extra_yaml
        )
        return cfg

    def start(self, timeout: float = 20.0) -> "Broker":
        cfg = self._write_config()
        self._starts += 1
        err = open(self.dir / f"stderr-{self._starts}.log", "wb")
        self.proc = subprocess.Popen([str(broker_binary()), "--config", str(cfg)], cwd=self.dir,
                                     stdout=subprocess.PIPE, stderr=err)
        found: Dict[str, str] = {}
        done = threading.Event()

        def reader(proc=self.proc):
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                self._lines.append(line)
                for k, rx in _BANNER.items():
                    m = rx.match(line)
                    if m:
                        found[k] = m.group(1)
                if "command" in found and "delivery" in found and line.startswith("====="):
                    done.set()
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        if not done.wait(timeout) or "command" not in found or "delivery" not in found:
            self.kill()
            raise RuntimeError(f"broker did not start; stdout: {''.join(self._lines)!r}; "
                               f"stderr: {(self.dir / f'stderr-{self._starts}.log').read_text()[-2000:]}")
        self.pub_port = int(found["command"])
        self.sub_port = int(found["delivery"])
        self.admin_url = found.get("admin")
        self.admin = parse_credentials(self.dir / ".pulsemq_admin")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the broker gets no chance to say anything to its clients."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> "Broker":
        """Kills and starts again on the same ports and database."""
        self.kill()
        return self.start()

    # -- clients ---------------------------------------------------------------------------
    def client_kwargs(self, username: Optional[str] = None, token: Optional[str] = None, **kw) -> dict:
        d = dict(host="127.0.0.1", pub_port=self.pub_port, sub_port=self.sub_port,
                 username=username or self.admin["username"], token=token or self.admin["token"])
        d.update(kw)
        return d

    def client(self, username: Optional[str] = None, token: Optional[str] = None, **kw):
        from pulse_mq import PulseMQClient
        return PulseMQClient(**self.client_kwargs(username, token, **kw))

    # -- users and grants ------------------------------------------------------------------
    def create_user(self, username: str, grants: Optional[Dict[str, str]] = None,
                    user_type: str = "mq_normal", wait: bool = True) -> str:
        """Creates ``username`` with ``grants`` ({namespace: role}); returns its MQ token."""
        grants = grants or {}
        if self.admin_url:
            try:
                return self._create_user_http(username, grants, user_type)
            except Exception as e:  # the admin API is young: fall back to the database
                print(f"admin API failed ({e}); using SQLite")
        token = self._create_user_sqlite(username, grants, user_type)
        if wait:
            time.sleep(1.5)  # the broker's safety-net reload (limits.cache_refresh_sec = 1)
        return token

    def grant(self, username: str, grants: Dict[str, str], wait: bool = True) -> None:
        with self._db() as db:
            (uid,) = db.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
            self._grant_rows(db, uid, grants)
        if wait:
            time.sleep(1.5)

    def _db(self):
        db = sqlite3.connect(self.db_path, timeout=10)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        return db

    def _grant_rows(self, db, uid: int, grants: Dict[str, str]) -> None:
        for ns, role in grants.items():
            db.execute("INSERT OR IGNORE INTO namespaces (name, created_by) VALUES (?, 'admin')", (ns,))
            (nid,) = db.execute("SELECT id FROM namespaces WHERE name = ?", (ns,)).fetchone()
            db.execute(
                "INSERT INTO namespace_permissions (user_id, namespace_id, role, granted_by) VALUES (?, ?, ?, 'admin') "
                "ON CONFLICT (user_id, namespace_id) DO UPDATE SET role = excluded.role", (uid, nid, role))

    def _create_user_sqlite(self, username: str, grants: Dict[str, str], user_type: str) -> str:
        token = secrets.token_hex(16)
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._db() as db:
            db.execute("INSERT INTO users (username, user_type, token_hash) VALUES (?, ?, ?)",
                       (username, user_type, digest))
            (uid,) = db.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
            self._grant_rows(db, uid, grants)
        return token

    def _http(self, method: str, path: str, body=None, jwt: Optional[str] = None):
        req = urllib.request.Request(self.admin_url.rstrip("/") + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        if jwt:
            req.add_header("Authorization", f"Bearer {jwt}")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def _create_user_http(self, username: str, grants: Dict[str, str], user_type: str) -> str:
        # the calls of the seed README section 1.2
        jwt = self._http("POST", "/login", {"username": self.admin["username"],
                                             "password": self.admin["password"]})["token"]
        user = self._http("POST", "/api/users", {"username": username, "user_type": user_type}, jwt)
        for ns, role in grants.items():
            listing = self._http("GET", "/api/namespaces", jwt=jwt)
            items = listing.get("items", listing) if isinstance(listing, dict) else listing
            ns_id = next((n["id"] for n in items if n["name"] == ns), None)
            if ns_id is None:
                ns_id = self._http("POST", "/api/namespaces", {"name": ns, "description": ""}, jwt)["id"]
            self._http("POST", f"/api/namespaces/{ns_id}/permissions", {"user_id": user["id"], "role": role}, jwt)
        return user["token"]


def parse_credentials(path: Path) -> Dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One broker shared by the tests that do not restart it."""
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture
def fresh_broker(tmp_path):
    """A broker of this test's own (for restarts)."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.kill()


_counter = iter(range(1, 1_000_000))


@pytest.fixture
def uniq():
    """A name unique within the session (namespaces and users of different tests never collide)."""
    def make(prefix: str = "t") -> str:
        return f"{prefix}{next(_counter)}_{secrets.token_hex(3)}"
    return make
