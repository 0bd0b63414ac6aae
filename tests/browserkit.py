"""A real browser on a real Jupyter server, for tests that look at what a user sees.

Debian's chromium (``apt-get install chromium``; ``.ci/run`` installs it) driven by pip's playwright through
``executable_path``; never ``playwright install``. The server is JupyterLab 4 or Notebook 7 from this venv, on
127.0.0.1 with a random token, serving a folder the test chooses.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHROMIUM", "JupyterServer", "browser_missing", "chromium_page", "jupyter_server"]

CHROMIUM = os.environ.get("INKWELL_CHROMIUM", "/usr/bin/chromium")


def browser_missing() -> str | None:
    """Why no browser test can run here (a reason for ``pytest.skip``), or None when one can."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "pip's playwright is not installed (it is in the dev extra of the lock)"
    return None


@dataclass(frozen=True)
class JupyterServer:
    """A running Jupyter server: where it listens and how to open a file in it."""

    app: str  # "lab" (JupyterLab 4) or "notebook" (Notebook 7)
    port: int
    token: str
    root: Path
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kernels_idle(self, timeout: float = 60.0) -> bool:
        """Wait until the server has a kernel and every kernel is idle (a notebook opened has connected one)."""
        import json

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/api/kernels?token={self.token}", timeout=5) as answer:
                    kernels = json.loads(answer.read())
                if kernels and all(k.get("execution_state") == "idle" and k.get("connections", 1) > 0
                                   for k in kernels):
                    return True
            except OSError:
                pass
            time.sleep(0.3)
        return False

    def url(self, relpath: str) -> str:
        """The page that opens ``relpath`` (relative to the server's root) in this app."""
        route = "lab/tree" if self.app == "lab" else "notebooks"
        return f"{self.base}/{route}/{relpath}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyter_server(root: Path, app: str = "lab", timeout: float = 90.0,
                   env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Iterator[JupyterServer]:
    """Start JupyterLab (``app="lab"``) or Notebook 7 (``app="notebook"``) on ``root``; stop it afterwards.

    ``args`` are more command-line options, e.g. ``("--LabApp.expose_app_in_browser=True",)`` so a test can run
    JupyterLab's own commands through ``window.jupyterapp.commands.execute(...)``.
    """
    port, token = _free_port(), secrets.token_hex(16)
    log = Path(root) / f".jupyter-{app}-{port}.log"
    cmd = [sys.executable, "-m", "jupyterlab" if app == "lab" else "notebook", "--no-browser", "--allow-root",
           "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False", *args]
    full_env = {**os.environ, **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=root)
    server = JupyterServer(app=app, port=port, token=token, root=Path(root), log=log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{server.base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter {app} did not answer in {timeout:.0f} s: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 900, dark: bool = False) -> Iterator[object]:
    """A playwright page in Debian's chromium (headless)."""
    from playwright.sync_api import sync_playwright

    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          color_scheme="dark" if dark else "light")
            yield context.new_page()
        finally:
            browser.close()
