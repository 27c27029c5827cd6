"""The app served for a real browser: `streamlit run app.py` on a free local port against a workspace, and Chromium.

Used by the browser tests (through the `serve_app` and `browser` fixtures of tests/conftest.py) and by
benchmarks/slider_latency.py, which puts this folder on sys.path. Only the standard library: it imports nothing
of the code under test.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0  # seconds until the server must answer; the machine may be busy
PAGE_TIMEOUT_MS = 60_000  # launching Chromium, and a first page load (imports pandas, plotly, duckdb ...)
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


class AppServerError(RuntimeError):
    """The app server exited or did not answer in time; the message ends with the tail of its log."""


def chromium_path() -> str | None:
    """Debian's chromium (/usr/bin/chromium), else `chromium` on PATH; None when there is neither."""
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`python -m streamlit run app.py` in its own process group, serving the workspace folder `workspace`
    (EQN_WORKSPACE) at `url`; its output goes to `log_path`. env: variables set on top of this process's.

    start() returns once the server answers its health check and stops the server when it does not; stop()
    ends the whole process group (SIGTERM, then SIGKILL after 15 s); kill() is a crash (SIGKILL, no clean-up).
    """

    def __init__(self, workspace: str | Path, log_path: str | Path, *, env: dict[str, str] | None = None,
                 start_timeout: float = START_TIMEOUT):
        self.workspace = Path(workspace)
        self.log_path = Path(log_path)
        self.env = {**os.environ, "EQN_WORKSPACE": str(self.workspace), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.start_timeout = start_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start the server and wait until it answers; returns its url. AppServerError (with the log's tail)
        when it exits or stays silent for start_timeout seconds."""
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise AppServerError(f"streamlit exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AppServerError(f"streamlit did not answer within {self.start_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
