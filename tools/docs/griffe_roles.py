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
    def _documented(pkg: griffe.Module) -> list[griffe.Module]:
        """The modules with pages, as tools/docs/gen_api.py decides: each leaf package, then
        every public submodule (no ``_`` in its path) that declares ``__all__``."""
        leaves = [m for m in pkg.modules.values() if not m.name.startswith("_")]
        found = list(leaves)
        todo = [m for leaf in leaves for m in leaf.modules.values()]
        while todo:
            module = todo.pop(0)
            if module.name.startswith("_"):
                continue
            if module.exports is not None:
                found.append(module)
            todo += list(module.modules.values())
        return found

    def _public(self, pkg: griffe.Module) -> dict[str, str]:
        """Canonical or module path -> the path whose page documents it, for every name in
        the ``__all__`` of a documented module (a leaf package's page wins)."""
        mapping: dict[str, str] = {}
        for module in self._documented(pkg):
            mapping[module.path] = module.path
            for name in module.exports or ():
                if not isinstance(name, str) or name.startswith("_"):
                    continue
                member = module.members.get(name)
                if member is None:
                    continue
                target = _canonical(member)
                here = f"{module.path}.{name}"
                mapping.setdefault(target, here)
                mapping.setdefault(here, mapping[target])
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
            try:
                found = _lookup(obj.package, target)
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                found = None
            return found.path if found is not None else target
        head, _, rest = target.partition(".")
        scope: griffe.Object | None = obj if obj.is_class or obj.is_module else obj.parent
        while scope is not None:
            member = scope.members.get(head)
            if member is not None:
                base = _canonical(member)
                return f"{base}.{rest}" if rest else base
            scope = scope.parent
        return None

    def _link(self, path: str, public: dict[str, str], pkg: griffe.Module) -> str | None:
        """The exported path of ``path`` if the docs have a page or heading for it."""
        if path in public:
            return public[path]
        owner, _, member = path.rpartition(".")
        if owner in public and not member.startswith("_"):
            # a documented member of a documented class (methods, properties, attributes)
            try:
                parent, obj = _lookup(pkg, owner), _lookup(pkg, path)
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
            if parent is not None and parent.is_class and obj is not None and obj.docstring:
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


def _canonical(member: griffe.Object | griffe.Alias) -> str:
    """Where ``member`` is defined, following a chain of re-exports to its end."""
    if not isinstance(member, griffe.Alias):
        return member.path
    try:
        return member.final_target.path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return member.target_path
