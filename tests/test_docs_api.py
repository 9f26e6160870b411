"""The API reference (docs/reference/api.md) documents exactly the public names, ``__all__``."""

import pathlib
import re

import leadsla
import leadsla.testing  # documented on the same page, as leadsla.testing.NAME

API = pathlib.Path(__file__).resolve().parent.parent / "docs" / "reference" / "api.md"

#: ``.. autoclass:: leadsla.Engine``, ``.. automethod:: leadsla.Agreement.from_toml``, and a
#: class written out by hand, ``.. py:class:: leadsla.Decision``.
DIRECTIVE = re.compile(r"^\s*\.\. (?:auto|py:)(\w+)::\s+leadsla\.([\w.]+)\s*$", re.MULTILINE)


def documented() -> list[tuple[str, str]]:
    """Every (directive, dotted name under leadsla) the page's autodoc directives name."""
    return DIRECTIVE.findall(API.read_text(encoding="utf-8"))


def documented_names() -> set[str]:
    """The top-level names the page documents (``leadsla.testing`` is a module of its own)."""
    return {
        name
        for kind, name in documented()
        if "." not in name and kind in {"class", "function", "exception", "data"}
    }


def public_names() -> set[str]:
    return set(leadsla.__all__) - {"__version__"}


def test_every_public_name_is_documented() -> None:
    """Each name in ``leadsla.__all__`` has its autodoc directive in the API reference."""
    missing = public_names() - documented_names()
    assert not missing, f"add these to docs/reference/api.md: {sorted(missing)}"


def test_every_documented_name_is_public() -> None:
    """The API reference documents no name that ``leadsla.__all__`` does not list."""
    extra = documented_names() - public_names()
    assert not extra, f"remove these from docs/reference/api.md: {sorted(extra)}"


def test_every_documented_member_exists() -> None:
    """Dotted names (``leadsla.Agreement.from_toml``, ``leadsla.testing.EngineMachine``) name
    attributes that exist."""
    gone = []
    for _, name in documented():
        owner: object = leadsla
        for part in name.split("."):
            if not hasattr(owner, part):
                gone.append(name)
                break
            owner = getattr(owner, part)
    assert not gone, f"docs/reference/api.md names attributes that do not exist: {gone}"
