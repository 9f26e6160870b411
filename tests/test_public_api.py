"""The public surface: a curated, sorted ``__all__`` and an installed, typed package."""

import os
import pathlib

import leadsla


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and names exactly the public attributes of the package."""
    public = {
        name for name in vars(leadsla) if not name.startswith("_") and name not in {"testing"}
    } | {"__version__"}

    # Sorted as ruff (RUF022) keeps it: CONSTANTS, then Classes, then functions.
    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert sorted(leadsla.__all__, key=group) == leadsla.__all__
    assert len(set(leadsla.__all__)) == len(leadsla.__all__)
    assert set(leadsla.__all__) == public


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
        return
    assert "site-packages" in pathlib.Path(leadsla.__file__).parts
