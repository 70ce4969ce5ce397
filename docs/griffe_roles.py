"""Griffe extension for the docs build: the code's docstrings use Sphinx roles
(``:class:`~stratequeue.models.Bar```, ``:meth:`start```); on the site they become links to
the API reference where the target is documented there, and inline code where it is not
(autorefs' optional references), instead of showing the raw role text."""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def _find(scope: Any, dotted: str) -> str | None:
    """The full path of ``dotted`` looked up from ``scope``'s members, or None."""
    node = scope
    for part in dotted.split("."):
        if node.is_alias:  # an import: never resolved here (it may be outside the docs)
            return None
        if part not in node.members:
            return None
        node = node.members[part]
    return f"{scope.path}.{dotted}"


def _target(obj: Any, text: str) -> str | None:
    if text.startswith("."):
        module = obj.module
        base = module.path if module.is_init_module else module.parent.path
        return base + text
    if text.startswith("stratequeue"):
        return text
    scopes = [obj, getattr(obj, "parent", None), obj.module, obj.package]
    for scope in scopes:
        if scope is not None:
            found = _find(scope, text)
            if found:
                return found
    return None


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: Any, seen: set[str]) -> None:
        if obj.path in seen or obj.is_alias:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(lambda m: self._link(obj, m), obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)

    @staticmethod
    def _link(obj: Any, match: re.Match[str]) -> str:
        short, text = match.group(1) == "~", match.group(2).strip()
        shown = text.rsplit(".", 1)[-1] if short else text.lstrip(".")
        target = _target(obj, text)
        if target is None:
            return f"`{shown}`"
        return (
            f'<autoref identifier="{html.escape(target)}" optional>'
            f"<code>{html.escape(shown)}</code></autoref>"
        )
