"""Sphinx configuration for leadsla's documentation (MyST Markdown, Diátaxis layout).

Examples in the pages are ``pycon`` blocks that pytest runs as doctests (``--doctest-glob``).
"""

import leadsla

project = "leadsla"
author = "leadsla developers"
copyright = "2026, leadsla developers"
release = leadsla.__version__
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

html_theme = "alabaster"
html_title = f"leadsla {release}"
# Pictures of leadsla's own output (screenshots of the HTML scorecard), shown by the pages.
html_static_path = ["_static"]
