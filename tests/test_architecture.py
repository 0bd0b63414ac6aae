"""The layout the project promises: a small helpers face, readable modules, imports that only point down."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import helpers

ROOT = Path(helpers.PROJECT_ROOT)
PACKAGE = ROOT / "inkwell"
#: The stages of the pipeline, lowest first: a module may import its own stage (without cycles) or lower ones, never
#: higher. Models sit below data (01_data fits lines to the family table's limits); evaluation below training (the
#: validation check scores lines with its CER); training and reading never import each other.
STAGES = ["core", "models", "data", "evaluation", "training", "reading", "views", "workflow"]
#: Libraries that may be imported inside a function: heavy ones, and unsloth, which fails without a GPU.
#: rapidocr and onnxruntime: the classic-OCR baseline's optional engine (inkwell.reading.baselines).
#: pypdfium2: renders PDF pages, only when a PDF is read (inkwell.data.sources).
#: vllm: bulk OCR on a CUDA GPU, an optional extra (inkwell.reading.bulk).
#: cv2: OpenCV (installed with rapidocr) finds a ruled table's ditto marks, only when a page is read
#: (inkwell.reading.lines.marks). shapely: line polygons, when a page's lines are outlined or scored.
#: kraken: the optional baseline segmenter (inkwell.reading.lines.kraken), not in the lock.
LAZY_OK = {"torch", "transformers", "peft", "trl", "unsloth", "tokenizers", "safetensors", "rapidocr", "onnxruntime",
           "pypdfium2", "vllm", "cv2", "shapely", "kraken"}


#: The package's face and the stages' own faces: docstrings only, no ``__all__``.
FACES = {"inkwell", *(f"inkwell.{name}" for name in STAGES)}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                # "from package import submodule" depends on the submodule, not on the package's __init__
                subs = [f"{child.module}.{a.name}" for a in child.names if f"{child.module}.{a.name}" in modules()]
                found.extend((m, in_function) for m in subs or [child.module])
            visit(child, inner)

    visit(tree, False)
    return found


def stage(module: str) -> int:
    """The rank of a module's stage (``inkwell.models.loading`` -> 1)."""
    return STAGES.index(module.split(".")[1])


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m, _ in imports(path) if m in mods and m != name and m != "inkwell"} for name, path in mods.items()}


def test_helpers_is_a_small_face() -> None:
    path = ROOT / "helpers.py"
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 150
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = {type(node).__name__ for node in tree.body[1:]}
    assert kinds <= {"ImportFrom", "Assign"}, f"helpers.py should only re-export, found {kinds}"


def test_helpers_exports_exactly_what_is_used() -> None:
    """__all__ lists exactly the names notebooks, scripts and tests take from helpers."""
    used: set[str] = set()
    texts = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    sources = ["".join(c["source"]) for nb in texts for c in nb["cells"] if c["cell_type"] == "code"]
    sources += [p.read_text(encoding="utf-8") for d in ("scripts", "tests")
                for p in sorted((ROOT / d).rglob("*.py")) if p.name != "test_architecture.py"]
    for text in sources:
        used.update(re.findall(r"\bhelpers\.([A-Za-z_]\w*)", text))
        for group, line in re.findall(r"from helpers import (?:\(([^)]*)\)|([\w ,]+))", text):
            used.update(n.strip() for n in (group or line).split(",") if n.strip())
    assert sorted(used) == sorted(helpers.__all__)
    assert all(hasattr(helpers, name) for name in helpers.__all__)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_readable(name: str) -> None:
    path = modules()[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 700, f"{path}: split it along a real seam"
    tree = ast.parse(text)
    assert ast.get_docstring(tree), f"{path}: say the module's role and what it may import"
    if name not in FACES:
        exported = next((n for n in tree.body if isinstance(n, ast.Assign)
                         and any(getattr(t, "id", "") == "__all__" for t in n.targets)), None)
        assert exported is not None, f"{path}: no __all__"
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        public = {d for d in defined if not d.startswith("_")}
        assert public <= set(ast.literal_eval(exported.value)), f"{path}: __all__ misses {public - set(ast.literal_eval(exported.value))}"
    for module, lazy in imports(path):
        if lazy:
            assert module.split(".")[0] in LAZY_OK, f"{path}: imports {module} inside a function"


def test_every_module_sits_in_a_stage() -> None:
    """inkwell/ holds the package's face and one subpackage per stage, each saying what it may import."""
    top = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", *STAGES}, f"outside a stage: {sorted(top - {'__init__.py', *STAGES})}"
    for name in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"inkwell/{name}/__init__.py: say what the stage does and what it may import"


def test_imports_point_down_and_never_cycle() -> None:
    edges = graph()
    for name, targets in edges.items():
        if name == "inkwell":
            continue
        for target in targets:
            assert stage(target) <= stage(name), (f"{name} (stage {STAGES[stage(name)]}) imports {target} "
                                                  f"(stage {STAGES[stage(target)]}, higher)")
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*trail, node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(edges[node]):
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(edges):
        visit(node, [])


def test_importing_helpers_stays_cheap() -> None:
    """No torch, transformers or unsloth at import time: they load when a model does."""
    code = "import sys, helpers; print(sorted(m for m in %r if m in sys.modules))" % sorted(LAZY_OK)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
