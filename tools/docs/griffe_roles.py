"""A griffe extension for the docs site: turn the Sphinx roles of our docstrings
(``:class:`~aibind.core.StreamStore```, ``:meth:`aclose```, ``:func:`open_stores```...) into
mkdocstrings cross-references where the target has a page, and into inline code otherwise, so
the API reference shows neither raw roles nor broken links.

A target is resolved in the scope of the documented object (its module's imports, its class),
then mapped from where it is defined to where it is exported (``aibind.core.durable.
DurableStream`` -> ``aibind.core.DurableStream``): only exported names and their documented
members have pages.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([\w.]+)(\(\))?`")


class SphinxRoles(griffe.Extension):
    """Rewrite roles once the whole ``aibind`` namespace is loaded (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.path != "aibind":
            return
        public = self._public(pkg)
        for obj in self._walk(pkg):
            if obj.docstring is not None:
                docstring = obj.docstring

                def replace(match: re.Match[str], obj: griffe.Object = obj) -> str:
                    return self._replace(obj, match, public, pkg)

                docstring.value = ROLE.sub(replace, docstring.value)

    @staticmethod
    def _public(pkg: griffe.Module) -> dict[str, str]:
        """Canonical path -> exported path, for every name in a leaf package's ``__all__``."""
        mapping: dict[str, str] = {}
        for leaf in pkg.modules.values():
            mapping[leaf.path] = leaf.path
            for name in leaf.exports or ():
                member = leaf.members.get(name) if isinstance(name, str) else None
                if member is None:
                    continue
                target = member.target_path if isinstance(member, griffe.Alias) else member.path
                mapping.setdefault(target, f"{leaf.path}.{name}")
                mapping[f"{leaf.path}.{name}"] = f"{leaf.path}.{name}"
        return mapping

    def _walk(self, obj: griffe.Object) -> list[griffe.Object]:
        found: list[griffe.Object] = [obj]
        for member in obj.members.values():
            if member.is_alias:
                continue
            found += self._walk(member)  # type: ignore[arg-type]
        return found

    def _resolve(self, obj: griffe.Object, target: str) -> str | None:
        """The full path of ``target`` as seen from ``obj``, or ``None``."""
        if target.startswith("aibind."):
            return target
        head, _, rest = target.partition(".")
        scope: griffe.Object | None = obj if obj.is_class or obj.is_module else obj.parent
        while scope is not None:
            member = scope.members.get(head)
            if member is not None:
                base = member.target_path if isinstance(member, griffe.Alias) else member.path
                return f"{base}.{rest}" if rest else base
            scope = scope.parent
        return None

    def _link(self, path: str, public: dict[str, str], pkg: griffe.Module) -> str | None:
        """The exported path of ``path`` if the docs have a page or heading for it."""
        if path in public:
            return public[path]
        owner, _, member = path.rpartition(".")
        if owner in public and not member.startswith("_"):
            try:
                obj = _lookup(pkg, path)
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
            if obj is not None and obj.docstring is not None:
                return f"{public[owner]}.{member}"
        return None

    def _replace(
        self, obj: griffe.Object, match: re.Match[str], public: dict[str, str], pkg: griffe.Module
    ) -> str:
        tilde, target, call = match.groups()
        shown = (target.rsplit(".", 1)[-1] if tilde else target) + (call or "")
        path = self._resolve(obj, target)
        link = self._link(path, public, pkg) if path else None
        return f"[`{shown}`][{link}]" if link else f"`{shown}`"


def _lookup(pkg: griffe.Module, path: str) -> griffe.Object | None:
    """The object at ``path`` (``aibind.x.y.Z.m``) under ``pkg``, following aliases."""
    parts = path.split(".")[1:]
    node: Any = pkg
    for part in parts:
        node = node.members.get(part)
        if node is None:
            return None
        if node.is_alias:
            node = node.final_target
    return node  # type: ignore[no-any-return]
