"""What ``make setup`` prints while pip installs the lock (scripts/setup_progress.py): pip's lines passed through,
a progress line with a time left every interval, the phases' final lines, and pip's exit code. The child is a
fake pip that writes dist-info folders into a fake venv: nothing is installed."""

from __future__ import annotations

import importlib.util
import io
import re
import statistics
import sys
import textwrap
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import helpers

ROOT = helpers.PROJECT_ROOT


@pytest.fixture(scope="module")
def setup_progress() -> ModuleType:
    spec = importlib.util.spec_from_file_location("setup_progress", ROOT / "scripts" / "setup_progress.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["setup_progress"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fake_pip(tmp_path: Path, code: int) -> list[str]:
    """A child that prints pip's lines for three wheels (one local file), then installs them slowly."""
    wheel = tmp_path / "wheels" / "big_pkg-2.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"x" * 3_000_000)
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    script = tmp_path / "fake_pip.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        site = Path({str(site)!r})
        print("Ignoring colorama: markers 'sys_platform == \\"win32\\"' don't match your environment")
        for name in ("small_a", "small_b"):
            print(f"Collecting {{name}}==1.0 (from -r requirements.lock (line 3))")
            print(f"  Using cached {{name}}-1.0-py3-none-any.whl (1.0 MB)")
        print("Processing {wheel}")
        time.sleep(0.3)
        print("Installing collected packages: small-a, small_b, big-pkg")
        for name in ("small_a", "small_b", "big_pkg"):
            time.sleep(0.4)
            (site / f"{{name}}-1.0.dist-info").mkdir()
        time.sleep(0.3)
        print("ERROR: could not install" if {code} else "Successfully installed big-pkg-2.0 small-a-1.0 small_b-1.0")
        sys.exit({code})
    """))
    return [sys.executable, str(script)]


def test_progress_lines_with_time_left_and_pips_output(setup_progress: ModuleType, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup_progress, "FIRST_ESTIMATE", 0.3)  # the fake install takes 1.5 s
    lock = tmp_path / "requirements.lock"
    lock.write_text("big-pkg==2.0 ; sys_platform == 'linux' or sys_platform == 'darwin'\n    # via x\n"
                    "small-a==1.0\nsmall-b==1.0 ; python_full_version >= '3.9'\n"
                    "colorama==0.4.6 ; sys_platform == 'win32' and 'linux' not in sys_platform\n")
    out = io.StringIO()
    code = setup_progress.run(fake_pip(tmp_path, 0), tmp_path / "venv", lock, 0.1, out)
    lines = out.getvalue().splitlines()
    assert code == 0
    assert "Successfully installed big-pkg-2.0 small-a-1.0 small_b-1.0" in lines  # pip's own lines pass through
    collecting = [s for s in lines if s.startswith("[setup] collecting: ") and " left" in s]
    assert collecting and re.match(r"\[setup\] collecting: \d/3 packages \(\d+%\), [\d.]+ s so far, [\d.]+ s left$",
                                   collecting[0])
    installing = [s for s in lines if re.match(r"\[setup\] installing: [12]/3 packages, [\d.]+ s so far, [\d.]+ s left$", s)]
    assert installing, lines
    assert float(installing[0].split(", ")[1].removesuffix(" s so far")) >= 0.3  # after FIRST_ESTIMATE
    assert re.match(r"\[setup\] installing: 3/3 packages in [\d.]+ s$", lines[-1])
    assert any(re.match(r"\[setup\] collecting: 3/3 packages in ", s) for s in lines)
    # the report script reads the lines as progress lines and final lines
    report = load_report()
    stamped = [f"{i} {s}" for i, s in enumerate(lines)]
    assert {e.bar for e in report.check(stamped).estimates} == {"[setup] collecting", "[setup] installing"}


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("progress_report", ROOT / "scripts" / "progress_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["progress_report"] = module
    spec.loader.exec_module(module)
    return module


def test_pips_failure_is_the_exit_code(setup_progress: ModuleType, tmp_path: Path) -> None:
    out = io.StringIO()
    code = setup_progress.run(fake_pip(tmp_path, 3), tmp_path / "venv", None, 0.1, out)
    assert code == 3
    assert out.getvalue().splitlines()[-1].startswith("[setup] pip failed (exit code 3) after ")


def make_wheel(path: Path, files: dict[str, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, size in files.items():
            z.writestr(name, b"\0" * size)
    return path


def test_costs_from_the_wheels_contents(setup_progress: ModuleType, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup_progress.tempfile, "gettempdir", lambda: str(tmp_path))
    # a local wheel: 10 binary files of 100 kB and 50 kB of .py (which pip compiles: most of its time)
    big = make_wheel(tmp_path / "big_pkg-2.0-py3-none-any.whl",
                     {**{f"big_pkg/f{i}.so": 100_000 for i in range(10)}, "big_pkg/__init__.py": 50_000})
    # a wheel pip downloaded: found in its temporary pip-unpack-* folder
    make_wheel(tmp_path / "pip-unpack-x1" / "small_a-1.0-py3-none-any.whl", {"small_a.py": 2_000})
    state = setup_progress.State()
    for line in ("  Downloading https://files.example/small_a-1.0-py3-none-any.whl (10 kB)",
                 "  Downloading torch-2.9-cp311.whl (900.0 MB)",  # gone: costed from its size
                 f"Processing {big} (from -r requirements.lock (line 3))",
                 "Installing collected packages: small-a, torch, big-pkg, inkwell"):
        state.read(line)
    costs = setup_progress.install_costs(state.to_install, state.sizes, state.wheels)
    c = setup_progress
    assert costs["big-pkg"] == pytest.approx(c.COST_PY_MB * 0.05 + c.COST_OTHER_MB * 1.0 + c.COST_FILE * 11)
    assert costs["small-a"] == pytest.approx(c.COST_PY_MB * 0.002 + c.COST_FILE)
    per_byte = statistics.median([costs["big-pkg"] / big.stat().st_size, costs["small-a"] / (
        tmp_path / "pip-unpack-x1" / "small_a-1.0-py3-none-any.whl").stat().st_size])
    assert costs["torch"] == pytest.approx(900e6 * per_byte)
    assert costs["inkwell"] == statistics.median([costs["big-pkg"], costs["torch"], costs["small-a"]])
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    reporter = setup_progress.Reporter(venv, 4, setup_progress.SyncWriter(io.StringIO()))
    (site / "small_a-1.0.dist-info").mkdir()
    done, total, done_cost, current, all_cost, last = reporter.installing_progress(state)
    assert (done, total, done_cost, current) == (1, 4, costs["small-a"], costs["torch"])  # torch in progress
    assert all_cost == sum(costs.values()) and last == (site / "small_a-1.0.dist-info").stat().st_mtime


@pytest.mark.parametrize("marker,holds", [
    ("(platform_machine == 'x86_64' and sys_platform == 'linux') or (sys_platform == 'win32')", True),
    ("python_full_version < '3.11.5' and sys_platform == 'linux'", False),
    ("python_full_version < '3.15' and 'linux' in sys_platform", True),
    ("os_name == 'nt' and 'linux' not in sys_platform", False),
])
def test_markers(setup_progress: ModuleType, marker: str, holds: bool) -> None:
    env = {"platform_machine": "x86_64", "sys_platform": "linux", "os_name": "posix",
           "python_full_version": "3.11.7", "implementation_name": "cpython"}
    assert setup_progress.marker_holds(marker, env) is holds


def test_time_left_starts_from_the_costs_and_moves_to_the_pace_measured(setup_progress: ModuleType, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Before anything is installed the time left is the costs (seconds on 2 idle cores); once the install has run
    long, it is the pace measured: here packages go in at half the costs' pace, so the rest takes twice its cost."""
    reporter = setup_progress.Reporter(tmp_path, 3, setup_progress.SyncWriter(io.StringIO()))
    state = setup_progress.State(install_start=1000.0)
    progress = {"now": (0, 3, 0.0, 10.0, 90.0, 0.0)}
    monkeypatch.setattr(reporter, "installing_progress", lambda _state: progress["now"])
    assert reporter.time_left(state, 1005.0) == pytest.approx(85.0)  # nothing installed: 90 s of costs, 5 s gone
    prior = setup_progress.PRIOR_SECONDS
    lefts = []
    for elapsed in (prior, 20 * prior):
        done_cost = elapsed / 2  # installed at half the costs' pace: the 60 s of costs left take 120 s
        progress["now"] = (1, 3, done_cost, 0.0, done_cost + 60.0, 1000.0 + elapsed)
        lefts.append(reporter.time_left(state, 1000.0 + elapsed))
    assert 60.0 < lefts[0] < lefts[1] <= 120.0  # between the costs and the pace, then closer to the pace
    assert abs(lefts[1] - 120.0) / 120.0 <= 0.05
