"""What the repository holds: its distributions and their metadata, read from the tree.

Shared by the repository checks (``tools/tests``) and the release tools; the noxfile discovers
packages the same way (``packages/aibind-*/pyproject.toml``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES_DIR = ROOT / "packages"
CONFORMANCE_DIR = ROOT / "tests-shared"
TEMPLATE_DIR = PACKAGES_DIR / "aibind-_template"

__all__ = [
    "CONFORMANCE_DIR",
    "PACKAGES_DIR",
    "ROOT",
    "TEMPLATE_DIR",
    "Dist",
    "distributions",
    "norm",
    "tomllib",
]


def norm(name: str) -> str:
    """A distribution name normalised as PEP 503 does (``Aibind_Core`` -> ``aibind-core``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Dist:
    """One distribution of the repository.

    Attributes:
        folder: its folder (``packages/aibind-redis``, ``tests-shared``).
        pyproject: its parsed ``pyproject.toml``.
    """

    folder: Path
    pyproject: dict[str, Any]

    @property
    def name(self) -> str:
        """The normalised distribution name (``aibind-redis``)."""
        return norm(self.pyproject["project"]["name"])

    @property
    def is_template(self) -> bool:
        """``True`` for ``packages/aibind-_template`` (copied by contributors, never released)."""
        return self.folder.name.startswith("aibind-_")

    @property
    def module(self) -> str:
        """The import name of its leaf package (``aibind.redis``)."""
        leaves = sorted(
            p.parent.name for p in (self.folder / "src" / "aibind").glob("*/__init__.py")
        )
        return f"aibind.{leaves[0]}" if leaves else ""

    @property
    def init(self) -> Path | None:
        """Its leaf package's ``__init__.py``, or ``None`` if it has none."""
        if not self.module:
            return None
        return self.folder / "src" / "aibind" / self.module.split(".", 1)[1] / "__init__.py"

    @property
    def version(self) -> str:
        """The static version in its pyproject.toml."""
        return str(self.pyproject["project"]["version"])


def distributions(*, include_template: bool = False) -> list[Dist]:
    """Every distribution of the tree: ``packages/aibind-*`` (the template only if asked) and
    the conformance suite in ``tests-shared``, in a stable order."""
    folders = sorted(p.parent for p in PACKAGES_DIR.glob("aibind-*/pyproject.toml"))
    if not include_template:
        folders = [f for f in folders if not f.name.startswith("aibind-_")]
    folders.append(CONFORMANCE_DIR)
    return [Dist(f, tomllib.loads((f / "pyproject.toml").read_text())) for f in folders]
