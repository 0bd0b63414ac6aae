"""Kill a write step with SIGKILL before each of its file-system calls, and check what a crash leaves.

Used by ``test_crash.py``: ``python tests/crashkit.py <scenario> <folder> <max kills>`` runs in a
process of its own (POSIX only). It imports the step's libraries and builds the earlier results
once (the scenario's ``setup``), then for each kill point forks a child from that state: an audit
hook (``sys.addaudithook``) counts the child's file-system calls under the folder (files opened for
writing, renames and replaces, removals, new folders, truncations) and sends the child SIGKILL just
before call number K: nothing of Python's cleanup runs, exactly as when a machine dies or a kernel
is killed. A first child runs the step unarmed and counts its calls N; the kill points are every
K in 1..N, or ``max kills`` of them spread evenly (the first and last always in). After each kill,
another child runs the scenario's ``check`` (earlier results intact, nothing half-written listed or
loaded) and ``again`` (the next run of the step succeeds; what it cleaned up is what the crash left).
The last line printed is a JSON summary: the step, N, the kill points tried, after how many the
crash left hidden staging folders (``cleaned_up_after``) and the next run said it cleaned something
up (``said_cleaned_up``: a ``CleanedUp`` warning, or the scenario's ``again`` returning one), and
every failure.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {"os.rename": 0, "os.remove": 0, "os.rmdir": 0, "os.mkdir": 0, "os.truncate": 0, "os.link": 1,
                "os.symlink": 1}
_DIR_FD = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 2, "os.rename": 2}
#: How every ``CleanedUp`` warning begins (``inkwell.core.paths``, ``inkwell.models.runs``).
_CLEANED_UP = "Cleaned up after an interrupted earlier write"


class _Counter:
    """The audit hook: counts file-system calls under ``root`` while armed; SIGKILL at call ``kill_at``."""

    def __init__(self) -> None:
        self.root = ""
        self.armed = False
        self.count = 0
        self.kill_at = 0

    def _under_root(self, path: Any, dir_fd: Any) -> bool:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, (str, os.PathLike)):
            return False
        path = os.fspath(path)
        if not os.path.isabs(path):
            try:
                fd_ok = isinstance(dir_fd, int) and dir_fd >= 0
                base = os.readlink(f"/proc/self/fd/{dir_fd}") if fd_ok else os.getcwd()
            except OSError:
                return False
            path = os.path.join(base, path)
        return os.path.abspath(path).startswith(self.root)

    def __call__(self, event: str, args: tuple) -> None:
        if not self.armed:
            return
        if event == "open":
            if len(args) < 3 or not isinstance(args[2], int) or not args[2] & _WRITE_FLAGS:
                return
            hit = self._under_root(args[0], None)
        elif event in _PATH_EVENTS:
            dir_fd = args[_DIR_FD[event]] if event in _DIR_FD and len(args) > _DIR_FD[event] else None
            hit = self._under_root(args[_PATH_EVENTS[event]], dir_fd)
        else:
            return
        if not hit:
            return
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


_HOOK = _Counter()


def _in_child(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child; its JSON-able result, or ``("killed", signal)`` / ``("error", text)``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            out = {"ok": fn()}
        except BaseException:  # noqa: BLE001 - reported to the parent
            out = {"error": traceback.format_exc()[-3000:]}
        with os.fdopen(write, "w") as fh:
            fh.write(json.dumps(out, default=str))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"killed": os.WTERMSIG(status)}
    return json.loads(text) if text else {"error": f"child exited with status {status} and said nothing"}


def _points(n: int, most: int) -> list[int]:
    """Kill points: all of 1..n, or ``most`` of them spread evenly with the first and the last."""
    if n <= most:
        return list(range(1, n + 1))
    return sorted({1 + round(i * (n - 1) / (most - 1)) for i in range(most)})


def _litter(folder: Path) -> list[str]:
    """What a killed write can leave: hidden staging folders, old copies of a replaced folder, partial folders."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if (".tmp-" in p.name or ".old-" in p.name) and p.name.startswith(".") and p.is_dir())


def run(scenario: Any, work: Path, most: int) -> dict[str, Any]:
    """Kill ``scenario.step`` at up to ``most`` points; check and re-run after each."""
    warnings.simplefilter("always")
    base = work.with_name(work.name + "-baseline")
    scenario.setup(work)
    shutil.copytree(work, base, symlinks=True)
    sys.addaudithook(_HOOK)
    _HOOK.root = str(work.resolve())

    def armed_step(kill_at: int) -> Callable[[], int]:
        def go() -> int:
            _HOOK.armed, _HOOK.count, _HOOK.kill_at = True, 0, kill_at
            scenario.step(work)
            _HOOK.armed = False
            return _HOOK.count
        return go

    def after_kill() -> dict[str, Any]:
        left = _litter(work)
        with warnings.catch_warnings(record=True) as caught:  # a reader may clean up too, and say so
            warnings.simplefilter("always")
            scenario.check(work)
            said = scenario.again(work)
        said = " ".join([str(said or "")] + [str(w.message) for w in caught])
        unsaid = [p for p in left if Path(p).name not in said]
        if unsaid:
            raise AssertionError(f"the next run did not say it cleaned up {unsaid}: {said[:500]}")
        scenario.check(work)
        return {"left": left, "said": _CLEANED_UP in said}

    dry = _in_child(armed_step(0))
    if "ok" not in dry:
        return {"step": scenario.NAME, "failures": [f"the step fails without a kill: {dry}"]}
    n = int(dry["ok"])
    chosen = [int(k) for k in os.environ.get("CRASHKIT_POINTS", "").split(",") if k]  # to replay a failure
    failures, cleaned, said, points = [], 0, 0, chosen or _points(n, most)
    for k in points:
        shutil.rmtree(work)
        shutil.copytree(base, work, symlinks=True)
        killed = _in_child(armed_step(k))
        if killed.get("killed") != signal.SIGKILL:
            failures.append(f"kill point {k}: the child was not killed: {killed}")
            continue
        out = _in_child(after_kill)
        if "ok" not in out:
            failures.append(f"kill point {k} of {n}: {out}")
        else:
            cleaned += bool(out["ok"]["left"])
            said += out["ok"]["said"]
    return {"step": scenario.NAME, "calls": n, "kills": len(points), "cleaned_up_after": cleaned,
            "said_cleaned_up": said, "failures": failures}


def main() -> None:
    """``crashkit.py <module:scenario class> <work folder> <max kills>``: print the summary as JSON."""
    spec, work, most = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    module, name = spec.split(":")
    scenario = getattr(importlib.import_module(module), name)()
    print(json.dumps(run(scenario, work, most)))


if __name__ == "__main__":
    main()
