"""Stand-in for a module the Python Workers runtime gives the ``workers`` SDK (outside that
runtime ``import workers`` needs it). Only what the SDK touches on the paths the tests use:

* ``patchWaitUntil(ctx)``: the runtime adapts ``ctx.waitUntil``; the tests' ``ctx`` already
  takes the promises the example Worker gives it, so nothing to patch.
* ``cloudflareWorkersModule`` / ``cloudflareSocketsModule`` / ``doAnImport``: ``cloudflare:*``
  modules exist only in workerd; reaching them here is an error.
"""

from __future__ import annotations

from typing import Any

cloudflareWorkersModule: Any = None
cloudflareSocketsModule: Any = None


def patchWaitUntil(ctx: Any) -> None:
    """No-op (see the module docstring)."""


def doAnImport(module_name: str) -> Any:
    raise ImportError(f"{module_name} exists only inside workerd's Python Workers runtime")
