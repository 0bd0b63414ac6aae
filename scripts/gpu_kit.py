"""Pack the locked packages a GPU machine lacks into one folder to carry there (`make gpu-kit`).

The lent GPU machine has Python 3.12, its own torch, transformers and triton, and no network. This takes the
packages it lacks at the versions `requirements.lock` pins for Python 3.12 on Linux x86-64, so the stack measured on
the GPU is the stack users install, installs them with `pip install --target --no-deps` for that Python, drops what
cannot run there (bitsandbytes' libraries for other CUDA versions, Unsloth's web studio) and packs DEST/site.tar.gz
beside DEST/requirements.txt (the exact pins) and DEST/contents.txt. Needs the package registry: run it here.
There, after carrying DEST:

    mkdir -p /tmp/site && tar -xzf DEST/site.tar.gz -C /tmp/site && export PYTHONPATH=/tmp/site:$PWD

Usage: python scripts/gpu_kit.py [DEST] [--python 3.12.3] [--cuda 130] [--extra NAME ...] [--list]
(--list prints the pins the kit would hold and installs nothing)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from inkwell.core.stack import LOCK_FILE, Pin, environment, pins_for, read_lock

#: What the GPU machine lacks (it has torch, transformers, triton, numpy, pandas, pyarrow, pillow, opencv,
#: onnxruntime); accelerate and peft come from the lock too, so their versions are the tested ones.
KIT = (
    "unsloth", "unsloth-zoo", "trl", "datasets", "bitsandbytes", "accelerate", "peft", "torchao", "cut-cross-entropy",
    "msgspec", "tyro", "docstring-parser", "typeguard", "dill", "multiprocess", "hf-transfer", "filelock", "jiwer",
    "rapidfuzz", "pypdfium2", "papermill", "nbclient", "nbformat", "ipykernel", "ipywidgets", "jupyter-client",
    "jupyter-core", "traitlets", "comm", "tenacity", "entrypoints", "fastjsonschema",
)
#: Wheel tags a Linux x86-64 machine with glibc 2.28 or newer accepts.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "any")


@dataclass(frozen=True)
class Kit:
    """What was packed: the archive, the pins it holds, and the locked packages left to the machine itself."""

    archive: Path
    pins: tuple[Pin, ...]
    left_to_machine: tuple[str, ...]

    def summary(self) -> str:
        """A few lines for the terminal."""
        size = self.archive.stat().st_size / 2**20
        return (f"{self.archive}: {size:.1f} MiB, {len(self.pins)} packages at the versions of {LOCK_FILE.name}\n"
                + "  " + " ".join(f"{p.name}=={p.version}" for p in self.pins) + "\n"
                + f"left to the GPU machine's own install ({len(self.left_to_machine)} locked packages), among them: "
                + " ".join(n for n in self.left_to_machine if n in ("torch", "transformers", "triton", "numpy")))


def kit_pins(python: str, extra: tuple[str, ...] = (), lock: Path = LOCK_FILE) -> tuple[list[Pin], list[str]]:
    """The lock's pins for KIT + extra on Linux x86-64 with this Python, and the names of the locked rest."""
    chosen = pins_for(read_lock(lock), environment(python, "linux"))
    wanted = list(dict.fromkeys(KIT + tuple(canonicalize_name(name) for name in extra)))
    missing = [name for name in wanted if name not in chosen]
    if missing:
        raise SystemExit(f"{lock} has no pin for {', '.join(missing)} on Python {python}: --extra takes names of "
                         "locked packages (add a new one to pyproject.toml and run `make lock` first)")
    return [chosen[name] for name in wanted], sorted(set(chosen) - set(wanted))


def build(dest: Path, python: str = "3.12.3", cuda: str = "130", extra: tuple[str, ...] = ()) -> Kit:
    """Install the kit's pins for `python` into a temporary folder, trim it and pack it as dest/site.tar.gz."""
    pins, rest = kit_pins(python, extra)
    dest.mkdir(parents=True, exist_ok=True)
    requirements = dest / "requirements.txt"
    requirements.write_text("".join(f"{p.name}=={p.version}\n" for p in pins), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--only-binary=:all:",
                   "--python-version", ".".join(python.split(".")[:2]), "--implementation", "cp",
                   *[arg for tag in PLATFORMS for arg in ("--platform", tag)], "--target", str(site),
                   "-r", str(requirements)]
        subprocess.run(command, check=True)
        for library in (site / "bitsandbytes").glob("libbitsandbytes_cuda*.so"):
            if library.name != f"libbitsandbytes_cuda{cuda}.so":
                library.unlink()
        for folder in (site / "unsloth" / "studio", site / "studio", site / "bin"):
            shutil.rmtree(folder, ignore_errors=True)
        archive = dest / "site.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for entry in sorted(site.iterdir()):
                tar.add(entry, arcname=entry.name)
        names = sorted(e.name for e in site.iterdir() if not e.name.endswith(".dist-info"))
        (dest / "contents.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return Kit(archive, tuple(pins), tuple(rest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", nargs="?", type=Path, default=Path(".gpukit"), help="folder to write (git-ignored)")
    parser.add_argument("--python", default="3.12.3", help="the GPU machine's Python")
    parser.add_argument("--cuda", default="130", help="the GPU machine's CUDA version, as bitsandbytes names it")
    parser.add_argument("--extra", nargs="*", default=[], help="more locked packages to pack, e.g. rapidocr")
    parser.add_argument("--list", action="store_true", help="print the pins the kit would hold, install nothing")
    args = parser.parse_args()
    if args.list:
        pins, _ = kit_pins(args.python, tuple(args.extra))
        print("\n".join(f"{p.name}=={p.version}" for p in pins))
        return
    print(build(args.dest, args.python, args.cuda, tuple(args.extra)).summary())


if __name__ == "__main__":
    main()
