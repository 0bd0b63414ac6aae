"""The lock and pyproject.toml agree, and every install path reads the lock (inkwell.core.stack)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from inkwell.core.paths import PROJECT_ROOT
from inkwell.core.stack import (LOCK_FILE, ML_STACK, PYPROJECT_FILE, PYTHONS, drift, environment, pins_for, read_lock,
                                 versus_installed)


def _edited(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    """A copy of `source` in tmp_path with `old` replaced once by `new`."""
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{source} no longer holds {old!r}: update this test"
    out = tmp_path / source.name
    out.write_text(text.replace(old, new, 1), encoding="utf-8")
    return out


def test_pyproject_and_lock_agree() -> None:
    assert drift() == []


def test_a_dependency_added_to_pyproject_only_is_drift(tmp_path: Path) -> None:
    pyproject = _edited(tmp_path, PYPROJECT_FILE, '    "tqdm>=4.66",\n', '    "tqdm>=4.66",\n    "lxml>=5",\n')
    problems = drift(pyproject=pyproject)
    assert problems and all("lxml" in p and "make lock" in p for p in problems)


def test_a_range_the_pin_misses_is_drift(tmp_path: Path) -> None:
    pyproject = _edited(tmp_path, PYPROJECT_FILE, '"jiwer>=4.0,<5"', '"jiwer>=5"')
    problems = drift(pyproject=pyproject)
    assert problems and "jiwer" in problems[0] and "pins 4." in problems[0]


def test_a_dependency_left_in_the_lock_only_is_drift(tmp_path: Path) -> None:
    pyproject = _edited(tmp_path, PYPROJECT_FILE, '    "tqdm>=4.66",\n', "")
    assert drift(pyproject=pyproject) == [f"{LOCK_FILE} pins tqdm for the project, which {pyproject} no longer asks "
                                          "for: run `make lock`"]


def test_a_pin_dropped_from_the_lock_is_drift(tmp_path: Path) -> None:
    text = LOCK_FILE.read_text(encoding="utf-8")
    lock = tmp_path / "requirements.lock"
    lock.write_text(re.sub(r"(?m)^jiwer==.*\n(    #.*\n)*", "", text), encoding="utf-8")
    assert any("jiwer" in p and "no pin" in p for p in drift(lock=lock))


@pytest.mark.parametrize("python", PYTHONS)
def test_one_pin_per_package_on_each_linux_python(python: str) -> None:
    chosen = pins_for(read_lock(), environment(python))
    assert set(ML_STACK) <= set(chosen)
    assert chosen["unsloth"].version == "2026.10.5"


def test_windows_differs_only_where_the_platform_does() -> None:
    """The lines a Windows machine installs differently are the CUDA wheels, triton and terminal helpers."""
    pins = read_lock()
    linux, windows = set(pins_for(pins, environment("3.11.7"))), set(pins_for(pins, environment("3.11.7", "windows")))
    assert windows - linux == {"colorama", "pywinpty", "triton-windows"}
    assert all(n.startswith(("nvidia-", "cuda-")) or n in {"triton", "pexpect", "ptyprocess"} for n in linux - windows)


def test_every_install_path_reads_the_lock() -> None:
    """`make setup` (and so CI) and environment.yml install the lock's pins, not a fresh resolution."""
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    setup = makefile.split("\nsetup:", 1)[1].split("\n\n", 1)[0]
    assert "-r $(LOCK)" in setup and "--no-deps" in setup and "LOCK := requirements.lock" in makefile
    conda = (PROJECT_ROOT / "environment.yml").read_text(encoding="utf-8")
    pip_lines = [line.strip() for line in conda.splitlines() if line.strip().startswith("- -")]
    assert pip_lines == ["- -r requirements.lock", "- -e ."]
    assert "make setup" in (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_a_hand_edited_line_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("jiwer>=4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1: .*make lock"):
        read_lock(lock)


GPU_KIT = PROJECT_ROOT / "scripts" / "gpu_kit.py"


def _kit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GPU_KIT), "--list", *args], capture_output=True, text=True, timeout=120)


def test_gpu_kit_takes_the_locked_versions_for_python_3_12() -> None:
    proc = _kit("--python", "3.12.3", "--extra", "rapidocr")
    assert proc.returncode == 0, proc.stderr
    listed = dict(line.split("==") for line in proc.stdout.split())
    locked = {name: pin.version for name, pin in pins_for(read_lock(), environment("3.12.3")).items()}
    assert {"unsloth", "unsloth-zoo", "trl", "datasets", "bitsandbytes", "peft", "accelerate", "rapidocr"} <= set(listed)
    assert all(locked[name] == version for name, version in listed.items())
    assert "torch" not in listed  # the GPU machine brings its own build


def test_gpu_kit_refuses_a_package_the_lock_lacks() -> None:
    proc = _kit("--extra", "no-such-package")
    assert proc.returncode != 0 and "no-such-package" in proc.stderr and "make lock" in proc.stderr


def test_readme_names_the_locked_ml_stack() -> None:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"The ML stack as locked: (.+?)\.\s", " ".join(text.split()))
    assert listed, "README.md: the sentence 'The ML stack as locked: ...' is gone"
    named = dict(item.strip().rsplit(" ", 1) for item in listed[1].split(","))
    locked = pins_for(read_lock(), environment())
    assert {name.replace("_", "-"): version for name, version in named.items()} == {
        name: locked[name].version for name in ML_STACK}


def test_the_lock_covers_every_python_pyproject_admits() -> None:
    """`make lock` resolves from pyproject's lowest Python up, and the checks above run for each admitted one."""
    requires = SpecifierSet(tomllib.loads(PYPROJECT_FILE.read_text(encoding="utf-8"))["project"]["requires-python"])
    admitted = [f"3.{minor}" for minor in range(8, 20) if requires.contains(f"3.{minor}.0")]
    assert [".".join(p.split(".")[:2]) for p in PYTHONS] == admitted
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"--python-version {admitted[0]} " in makefile


def test_a_machine_off_the_lock_is_named_package_by_package() -> None:
    """The GPU check prints this: what it measured on is not always the locked stack (the GPU machine's own torch)."""
    locked = pins_for(read_lock(), environment("3.12.3", "linux"))
    installed = {name: locked[name].version for name in ML_STACK}
    assert versus_installed(installed) == []
    installed["torch"] = "2.11.0+cu130"
    del installed["unsloth"]
    assert versus_installed(installed) == [f"torch 2.11.0+cu130 (the lock: {locked['torch'].version})",
                                           f"unsloth not installed (the lock: {locked['unsloth'].version})"]
