"""The locked stack: `requirements.lock` read as data, and its agreement with `pyproject.toml`.

Stage ``core``: imports only `paths`. `pyproject.toml` keeps the ranges a user of the package needs;
`requirements.lock` (written by `make lock`, that is `uv pip compile --universal`) pins every package of the
resolved stack, for Linux and Windows on x86-64 and each supported Python. `make setup`, `environment.yml` and the
GPU kit (`scripts/gpu_kit.py`) install from the lock, so the stack the tests ran on is the stack users get.
`drift` says where the two files disagree; `pins_for` picks the pins one machine installs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from inkwell.core.paths import PROJECT_ROOT

__all__ = [
    "LOCK_FILE",
    "LOCKED_EXTRAS",
    "ML_STACK",
    "PYPROJECT_FILE",
    "PYTHONS",
    "Pin",
    "drift",
    "environment",
    "pins_for",
    "project_requirements",
    "read_lock",
    "versus_installed",
]

LOCK_FILE = PROJECT_ROOT / "requirements.lock"
PYPROJECT_FILE = PROJECT_ROOT / "pyproject.toml"
#: The optional groups of pyproject.toml that the lock holds (`make lock` passes `--extra` for each).
LOCKED_EXTRAS = ("dev",)
#: The packages whose exact versions the Unsloth branch depends on (its patches of transformers and TRL).
ML_STACK = ("torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "unsloth", "unsloth-zoo", "datasets")
#: The Python versions the lock is checked for (pyproject's `requires-python`: >=3.11,<3.14).
PYTHONS = ("3.11.7", "3.12.3", "3.13.1")
#: How uv's annotation names the project itself among a pin's reasons.
_PROJECT_VIA = re.compile(r"^inkwell\b")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)\s*(?:;\s*(?P<marker>.+?))?\s*(?:\\)?$")


@dataclass(frozen=True)
class Pin:
    """One line of the lock: a package at one version, for the machines its marker admits."""

    name: str  # canonical (lower case, dashes)
    version: str
    marker: str  # empty: every machine
    via: tuple[str, ...]  # what asks for it, as uv annotates ("inkwell (pyproject.toml)" for a direct one)
    line: int

    @property
    def direct(self) -> bool:
        """Whether pyproject.toml itself asks for this package."""
        return any(_PROJECT_VIA.match(v) for v in self.via)

    def applies(self, env: Mapping[str, str]) -> bool:
        """Whether a machine with these marker values installs this line."""
        return not self.marker or Marker(self.marker).evaluate(dict(env))


def read_lock(path: Path = LOCK_FILE) -> list[Pin]:
    """Every pin of a uv-compiled requirements file, with its marker and its `# via` annotation."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    pins: list[Pin] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.startswith((" ", "#", "-")):
            continue
        match = _PIN.match(text.strip())
        if match is None:
            raise ValueError(f"{path}, line {number}: {text!r} is not `name==version ; marker`; "
                             "regenerate the file with `make lock` instead of editing it")
        pins.append(Pin(canonicalize_name(match["name"]), match["version"], match["marker"] or "",
                        _via(lines, number), number))
    if not pins:
        raise ValueError(f"{path}: no pins found; regenerate it with `make lock`")
    return pins


def _via(lines: Sequence[str], number: int) -> tuple[str, ...]:
    """The `# via` annotation under line `number` (1-based): one reason inline, or one per following line."""
    reasons: list[str] = []
    for text in lines[number:]:
        stripped = text.strip()
        if not text.startswith(" ") or not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if body.startswith("via"):
            body = body[3:].strip()
        if body:
            reasons.append(body)
    return tuple(reasons)


def project_requirements(path: Path = PYPROJECT_FILE, extras: Iterable[str] = LOCKED_EXTRAS) -> list[Requirement]:
    """The requirements of pyproject.toml's `dependencies` and of the given optional groups."""
    project = tomllib.loads(Path(path).read_text(encoding="utf-8"))["project"]
    texts = list(project.get("dependencies", []))
    groups = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in groups:
            raise KeyError(f"{path}: no [project.optional-dependencies] group {extra!r} (have: {', '.join(groups)})")
        texts += groups[extra]
    return [Requirement(text) for text in texts]


def environment(python: str = "3.11.7", system: str = "linux") -> dict[str, str]:
    """The marker values of an x86-64 machine running CPython `python` on `system` ("linux" or "windows")."""
    if system not in ("linux", "windows"):
        raise ValueError(f"system={system!r}: the lock covers 'linux' and 'windows' (x86-64)")
    linux = system == "linux"
    return {
        "implementation_name": "cpython", "implementation_version": python, "platform_python_implementation": "CPython",
        "python_full_version": python, "python_version": ".".join(python.split(".")[:2]),
        "os_name": "posix" if linux else "nt", "sys_platform": "linux" if linux else "win32",
        "platform_system": "Linux" if linux else "Windows", "platform_machine": "x86_64" if linux else "AMD64",
        "platform_release": "", "platform_version": "", "extra": "",
    }


def pins_for(pins: Iterable[Pin], env: Mapping[str, str]) -> dict[str, Pin]:
    """Name -> the pin a machine with these marker values installs; two pins of one name there is an error."""
    chosen: dict[str, Pin] = {}
    for pin in pins:
        if not pin.applies(env):
            continue
        if pin.name in chosen:
            other = chosen[pin.name]
            raise ValueError(f"the lock pins {pin.name} twice for Python {env['python_full_version']} on "
                             f"{env['sys_platform']} (lines {other.line} and {pin.line}); regenerate it with `make lock`")
        chosen[pin.name] = pin
    return chosen


def drift(pyproject: Path = PYPROJECT_FILE, lock: Path = LOCK_FILE, pythons: Sequence[str] = PYTHONS) -> list[str]:
    """Where pyproject.toml and the lock disagree, one sentence each with its fix; empty when they agree.

    Checked on Linux x86-64 for each Python of `pythons`: every requirement of pyproject.toml has a pin that meets
    its range, and every pin the lock holds for the project is still asked for by pyproject.toml.
    """
    requirements = project_requirements(pyproject)
    pins = read_lock(lock)
    problems: list[str] = []
    for python in pythons:
        env = environment(python, "linux")
        chosen = pins_for(pins, env)
        for requirement in requirements:
            if requirement.marker is not None and not requirement.marker.evaluate(env):
                continue
            name = canonicalize_name(requirement.name)
            pin = chosen.get(name)
            if pin is None:
                problems.append(f"{pyproject} asks for {requirement}, {lock} has no pin for it on Python {python}: "
                                "run `make lock`")
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{pyproject} asks for {requirement}, {lock} line {pin.line} pins {pin.version}: "
                                "run `make lock`")
    asked = {canonicalize_name(r.name) for r in requirements}
    for name in sorted({p.name for p in pins if p.direct} - asked):
        problems.append(f"{lock} pins {name} for the project, which {pyproject} no longer asks for: run `make lock`")
    return list(dict.fromkeys(problems))


def versus_installed(installed: Mapping[str, str], names: Iterable[str] = ML_STACK, lock: Path = LOCK_FILE,
                     python: str = "3.12.3", system: str = "linux") -> list[str]:
    """Where a machine's installed versions differ from the lock, one sentence each; empty when they agree.

    Args:
        installed: Package name -> installed version (a missing name counts as not installed).
        names: The packages compared (default: :data:`ML_STACK`).
        lock: The lock file.
        python: The machine's Python version (which lines of the lock apply).
        system: ``"linux"`` or ``"windows"``.
    """
    chosen = pins_for(read_lock(lock), environment(python, system))
    versions = {canonicalize_name(k): v for k, v in installed.items()}
    out = []
    for name in (canonicalize_name(n) for n in names):
        pin, have = chosen.get(name), versions.get(name)
        if pin is not None and have != pin.version:
            out.append(f"{name} {have or 'not installed'} (the lock: {pin.version})")
    return out
