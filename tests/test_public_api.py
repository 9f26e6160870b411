"""The public surface: a curated, sorted ``__all__`` and an installed, typed package."""

import inspect
import os
import pathlib

import pytest

import leadsla


def _public_attributes() -> set[str]:
    """What the package offers at its top level: every class, function and constant defined
    or imported there, but not its submodules (``leadsla.testing`` is imported on its own)."""
    return {
        name
        for name, value in vars(leadsla).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    } | {"__version__"}


def test_all_is_sorted() -> None:
    """``__all__`` is sorted as ruff keeps it (RUF022): CONSTANTS, then Classes, then functions,
    each name once."""

    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert sorted(leadsla.__all__, key=group) == leadsla.__all__
    twice = sorted(name for name in set(leadsla.__all__) if leadsla.__all__.count(name) > 1)
    assert not twice, f"named more than once in __all__: {twice}"


def test_all_names_only_public_attributes() -> None:
    """Every name in ``__all__`` is a public attribute of the package."""
    missing = sorted(set(leadsla.__all__) - _public_attributes())
    assert not missing, f"in __all__ but not a public attribute of leadsla: {missing}"


def test_every_public_attribute_is_in_all() -> None:
    """Every public attribute of the package (not a submodule) is named in ``__all__``."""
    unlisted = sorted(_public_attributes() - set(leadsla.__all__))
    assert not unlisted, f"public attributes of leadsla missing from __all__: {unlisted}"


def test_every_name_in_all_exists() -> None:
    """Each name in ``__all__`` can be imported from the package."""
    for name in leadsla.__all__:
        assert getattr(leadsla, name) is not None


def test_package_is_typed() -> None:
    """The package ships the ``py.typed`` marker."""
    assert (pathlib.Path(leadsla.__file__).parent / "py.typed").is_file()


def test_version_is_a_string() -> None:
    """``leadsla.__version__`` is a PEP 440 version string."""
    assert leadsla.__version__[0].isdigit()


def test_tests_run_against_the_installed_package() -> None:
    """Under CI the tests import the built wheel from site-packages, not the checkout."""
    if os.environ.get("LEADSLA_EXPECT_INSTALLED") != "1":
        pytest.skip("LEADSLA_EXPECT_INSTALLED is not 1: this run tests the checkout, not a wheel")
    assert "site-packages" in pathlib.Path(leadsla.__file__).parts
