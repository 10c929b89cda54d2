"""Generate the API reference pages of the docs site (run by mkdocs-gen-files at build time).

For every distribution of the tree (``packages/aibind-*`` but the template, and the
conformance suite in ``tests-shared``) it imports the leaf package (``aibind.core``...) and
writes one page per name of its ``__all__``: ``api/<leaf>/<Name>.md`` holding the mkdocstrings
directive ``::: aibind.<leaf>.<Name>``, plus ``api/<leaf>/index.md`` (the package docstring and
a table of its names). Public submodules that declare ``__all__`` (``aibind.core.kit``,
``aibind.core.sse``...) get the same: ``api/<leaf>/<module>/index.md`` and a page per name the
leaf does not already export. The literate-nav ``api/SUMMARY.md`` lists them all. Names come
from ``__all__``, so the reference follows each package's public API, not its file layout;
``tools/docs/griffe_roles.py`` applies the same rule to decide which cross-references resolve.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import posixpath
import re
import sys
from pathlib import Path
from types import ModuleType

import mkdocs_gen_files
from mkdocs_gen_files.nav import Nav

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from monorepo import distributions  # noqa: E402

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):`~?([\w.]+(?:\(\))?)`")


def summary_line(obj: object) -> str:
    """The first line of ``obj``'s own docstring (not one inherited from ``str`` etc.), its
    Sphinx roles shown as inline code."""
    doc = inspect.getdoc(obj) if (inspect.isclass(obj) or callable(obj)) else None
    if not doc:
        doc = inspect.getdoc(obj) if inspect.ismodule(obj) else None
    if not doc:
        return ""
    first = doc.strip().splitlines()[0].replace("|", "\\|")
    return ROLE.sub(lambda m: f"`{m[1]}`", first)


def public_submodules(leaf: ModuleType) -> list[ModuleType]:
    """The public modules under ``leaf`` (no ``_`` in any part of the name) declaring
    ``__all__``, in name order."""
    found = []
    for info in pkgutil.walk_packages(leaf.__path__, prefix=f"{leaf.__name__}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        if isinstance(getattr(module, "__all__", None), (list, tuple)):
            found.append(module)
    return found


def names_of(module: ModuleType) -> list[str]:
    """The public names of ``module``'s ``__all__`` (dunders such as ``__version__`` left out)."""
    return [n for n in module.__all__ if not n.startswith("_")]


def write_module(
    module: ModuleType,
    folder: str,
    title: str,
    intro: str,
    nav: Nav,
    nav_key: tuple[str, ...],
    skip: dict[int, str],
) -> None:
    """Write ``folder/index.md`` for ``module`` and a page per name not in ``skip`` (object id
    -> the page that already documents it, linked from the table instead)."""
    rows = []
    for name in names_of(module):
        obj = getattr(module, name)
        if id(obj) in skip and (inspect.isclass(obj) or inspect.isfunction(obj)):
            link = posixpath.relpath(skip[id(obj)], folder)
        else:
            with mkdocs_gen_files.open(f"{folder}/{name}.md", "w") as page:
                page.write(f"::: {module.__name__}.{name}\n    options:\n      heading_level: 1\n")
            key = (*nav_key, name)
            nav[key] = f"{folder.removeprefix('api/')}/{name}.md"
            link = f"{name}.md"
        rows.append(f"| [`{name}`]({link}) | {summary_line(obj)} |")
    with mkdocs_gen_files.open(f"{folder}/index.md", "w") as page:
        page.write(f"# {title}\n\n{intro}")
        page.write(
            f"::: {module.__name__}\n    options:\n      members: false\n"
            "      show_root_heading: false\n\n"
        )
        page.write("## Public names\n\n| name | what |\n|---|---|\n")
        page.write("\n".join(rows) + "\n")
    nav[nav_key] = f"{folder.removeprefix('api/')}/index.md"


def main() -> None:
    """Write the pages and the navigation."""
    nav = Nav()  # type: ignore[no-untyped-call]
    for dist in distributions():
        if not dist.module:
            continue
        module = importlib.import_module(dist.module)
        leaf = dist.module.split(".", 1)[1]
        intro = f"`pip install {dist.name}` · version {dist.version} · `import {dist.module}`\n\n"
        write_module(module, f"api/{leaf}", dist.name, intro, nav, (dist.name,), {})
        exported = {id(getattr(module, n)): f"api/{leaf}/{n}.md" for n in names_of(module)}
        for sub in public_submodules(module):
            rel = sub.__name__.removeprefix(f"{dist.module}.")
            folder = f"api/{leaf}/{rel.replace('.', '/')}"
            write_module(
                sub,
                folder,
                f"`{sub.__name__}`",
                "",
                nav,
                (dist.name, f"{dist.module}.{rel}"),
                exported,
            )
    with mkdocs_gen_files.open("api/SUMMARY.md", "w") as summary:
        summary.writelines(nav.build_literate_nav())


main()
