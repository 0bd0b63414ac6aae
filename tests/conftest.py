"""Shared fixtures: a private workspace, tiny models and synthetic lines, all built offline."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# `make test` runs the suite in two processes (pytest-xdist's workers, PYTEST_XDIST_WORKER set): each keeps torch,
# and the kernels and scripts it starts, to one thread, so two processes never fight over two cores' threads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")

import helpers  # noqa: E402
from inkwell.models.families import native_families  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace for the whole session: relative paths (data/, adapters/) resolve here, not in the project."""
    path = tmp_path_factory.mktemp("inkwell-home")
    old = os.environ.get("INKWELL_HOME")
    os.environ["INKWELL_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("INKWELL_HOME", None)
    else:
        os.environ["INKWELL_HOME"] = old


@pytest.fixture(scope="session", params=native_families())
def tiny_model(request: pytest.FixtureRequest, home: Path) -> Path:
    """A tiny random-weight model of each supported family, saved like a hub checkpoint."""
    return helpers.build_tiny_model(home / "models" / f"tiny-{request.param}", request.param)


@pytest.fixture(scope="session")
def tiny_qwen25(home: Path) -> Path:
    """The tiny Qwen2.5-VL alone (the quickstart's model)."""
    return helpers.build_tiny_model(home / "models" / "tiny-qwen2_5_vl", "qwen2_5_vl")


@pytest.fixture(scope="session")
def synthetic(home: Path) -> helpers.SyntheticSet:
    """48 synthetic lines written in the demo layout."""
    return helpers.make_synthetic_lines(home / "raw" / "synthetic48", 48, seed=3)


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network used: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
