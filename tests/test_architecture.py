"""The architecture as the import contracts state it: every core module has its layer."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def core_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [core] = [c for c in contracts if c.get("containers") == ["leadsla._core"]]
    return [name.strip() for layer in core["layers"] for name in layer.split("|")]


def test_every_core_module_has_a_layer() -> None:
    """A new core module must be placed in the layers contract, or its imports go unchecked."""
    modules = {
        path.stem for path in (ROOT / "leadsla" / "_core").glob("*.py") if path.stem != "__init__"
    }
    layers = core_layers()
    assert len(layers) == len(set(layers))
    assert modules == set(layers)


def test_the_engine_is_a_thin_coordinator() -> None:
    """The Engine class stays small enough to hold in one's head (under 300 lines)."""
    import ast

    source = (ROOT / "leadsla" / "_core" / "engine.py").read_text(encoding="utf-8")
    [engine] = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "Engine"
    ]
    assert engine.end_lineno is not None
    assert engine.end_lineno - engine.lineno < 300
