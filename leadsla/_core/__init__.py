"""The pure core: values and decisions, no I/O, no clock (see docs/explanation/architecture.md).

Modules import only core modules below them; ``leadsla._core.engine`` is at the top.
"""
