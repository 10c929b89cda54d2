"""Generate the API reference pages of the docs site (run by mkdocs-gen-files at build time).

For every distribution of the tree (``packages/aibind-*`` but the template, and the
conformance suite in ``tests-shared``) it imports the leaf package (``aibind.core``...) and
writes one page per name of its ``__all__``: ``api/<leaf>/<Name>.md`` holding the mkdocstrings
directive ``::: aibind.<leaf>.<Name>``, plus ``api/<leaf>/index.md`` (the package docstring and
a table of its names) and the literate-nav ``api/SUMMARY.md``. Names come from ``__init__``, so
the reference follows a package's public API, not its module layout.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

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
        return ""
    first = doc.strip().splitlines()[0].replace("|", "\\|")
    return ROLE.sub(lambda m: f"`{m[1]}`", first)


def main() -> None:
    """Write the pages and the navigation."""
    nav = Nav()  # type: ignore[no-untyped-call]
    for dist in distributions():
        if not dist.module:
            continue
        module = importlib.import_module(dist.module)
        leaf = dist.module.split(".", 1)[1]
        names = [n for n in getattr(module, "__all__", []) if not n.startswith("_")]
        rows = []
        for name in names:
            path = f"api/{leaf}/{name}.md"
            with mkdocs_gen_files.open(path, "w") as page:
                page.write(f"::: {dist.module}.{name}\n    options:\n      heading_level: 1\n")
            rows.append(f"| [`{name}`]({name}.md) | {summary_line(getattr(module, name))} |")
            nav[dist.name, name] = f"{leaf}/{name}.md"
        with mkdocs_gen_files.open(f"api/{leaf}/index.md", "w") as page:
            page.write(f"# {dist.name}\n\n")
            page.write(
                f"`pip install {dist.name}` · version {dist.version} · `import {dist.module}`\n\n"
            )
            page.write(
                f"::: {dist.module}\n    options:\n      members: false\n"
                "      show_root_heading: false\n\n"
            )
            page.write("## Public names\n\n| name | what |\n|---|---|\n")
            page.write("\n".join(rows) + "\n")
        nav[(dist.name,)] = f"{leaf}/index.md"
    with mkdocs_gen_files.open("api/SUMMARY.md", "w") as summary:
        summary.writelines(nav.build_literate_nav())


main()
