"""The page's accessibility tree as compact text with stable element refs (pure: no I/O).

Input is CDP's ``Accessibility.getFullAXTree`` node list; output is one line per meaningful node,
indented by depth, in the shape agents know from the original's snapshots::

    - document "Counter demo"
      - heading "Counter" [ref=e1] level=1
      - button "Increment" [ref=e2]
      - text "Count: 0"

Ignored nodes, unnamed ``generic``/``none`` wrappers and inline text boxes are left out (their children
move up); a text node repeating its parent's name is dropped. Every element line carries a ref ``eN``.

Refs are stable: a ``RefTable`` (one per tab) maps the DOM's ``backendDOMNodeId`` to a ref the first time
a node is seen and keeps it for as long as the node lives, so "click e2" means the same button in the
next snapshot too, even when nodes were added before it. A node that left the page has no ref any more:
acting on it fails with "stale ref", never hits another element. The table is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

MAX_REFS = 20_000
MAX_NAME = 200
DEFAULT_MAX_CHARS = 80_000
INTERACTIVE = frozenset(
    {
        "button",
        "link",
        "textbox",
        "searchbox",
        "checkbox",
        "radio",
        "combobox",
        "listbox",
        "option",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "tab",
        "switch",
        "slider",
        "spinbutton",
        "treeitem",
    }
)
_TRANSPARENT = frozenset(
    {"none", "generic", "InlineTextBox", "LineBreak", "presentation", "LabelText", "MenuListPopup"}
)
_TEXT = frozenset({"StaticText", "text"})
_STATES = ("checked", "pressed", "selected", "expanded", "disabled", "required", "level", "focused")


class RefTable:
    """``backendDOMNodeId`` ⇄ ref for one tab."""

    def __init__(self) -> None:
        self._by_node: dict[int, str] = {}
        self._by_ref: dict[str, int] = {}
        self._next = 1

    def ref_for(self, backend_id: int) -> str:
        ref = self._by_node.get(backend_id)
        if ref is None:
            if len(self._by_node) >= MAX_REFS:  # bounded: old refs become stale, numbering goes on
                self._by_node.clear()
                self._by_ref.clear()
            ref = f"e{self._next}"
            self._next += 1
            self._by_node[backend_id] = ref
            self._by_ref[ref] = backend_id
        return ref

    def node_for(self, ref: str) -> int | None:
        return self._by_ref.get(ref.strip().removeprefix("ref=").removeprefix("@"))

    def clear(self) -> None:
        """A new document: no node of the old one can be reached any more."""
        self._by_node.clear()
        self._by_ref.clear()


@attrs.frozen
class Snapshot:
    text: str
    nodes: int  # lines rendered
    refs: int
    truncated: bool


def _value(field: Any) -> Any:
    return field.get("value") if isinstance(field, dict) else None


def _quote(text: str) -> str:
    text = " ".join(str(text).split())
    if len(text) > MAX_NAME:
        text = text[:MAX_NAME] + "…"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(
    nodes: list[dict[str, Any]],
    refs: RefTable,
    *,
    interactive: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_depth: int | None = None,
) -> Snapshot:
    """The compact text of ``nodes`` (``interactive``: only elements an agent can act on, flat)."""
    by_id = {node.get("nodeId"): node for node in nodes}
    roots = [node for node in nodes if not node.get("parentId") or node.get("parentId") not in by_id]
    lines: list[str] = []
    size = 0
    count_refs = 0
    truncated = False

    def emit(line: str) -> bool:
        nonlocal size, truncated
        if size + len(line) + 1 > max_chars:
            truncated = True
            return False
        lines.append(line)
        size += len(line) + 1
        return True

    def walk(node: dict[str, Any], depth: int, parent_name: str) -> bool:
        nonlocal count_refs
        role = str(_value(node.get("role")) or "")
        name = str(_value(node.get("name")) or "")
        children = [by_id[c] for c in node.get("childIds", ()) if c in by_id]
        shown = (
            not node.get("ignored") and not (role in _TRANSPARENT and not name) and role != "InlineTextBox"
        )
        if shown and role in _TEXT:
            shown = bool(name.strip()) and name.strip() != parent_name.strip() and not interactive
            if shown and not emit("  " * depth + f"- text {_quote(name)}"):
                return False
            return True
        if shown and interactive and role not in INTERACTIVE:
            shown = False
        if shown:
            line = "  " * depth + f"- {'document' if role == 'RootWebArea' else role}"
            if name:
                line += f" {_quote(name)}"
            backend = node.get("backendDOMNodeId")
            if isinstance(backend, int) and role != "RootWebArea":
                line += f" [ref={refs.ref_for(backend)}]"
                count_refs += 1
            value = _value(node.get("value"))
            if value not in (None, ""):
                line += f" value={_quote(str(value))}"
            line += _states(node.get("properties") or ())
            if not emit(line):
                return False
            if max_depth is not None and depth >= max_depth:
                return True
        next_depth = depth + 1 if shown and not interactive else depth
        return all(walk(child, next_depth, name if shown else parent_name) for child in children)

    for root in roots:
        if not walk(root, 0, ""):
            break
    if truncated:
        lines.append(f"[snapshot truncated at {max_chars} characters]")
    return Snapshot(text="\n".join(lines), nodes=len(lines), refs=count_refs, truncated=truncated)


def _states(properties: Iterable[dict[str, Any]]) -> str:
    out = []
    for prop in properties:
        key = prop.get("name")
        if key not in _STATES:
            continue
        value = _value(prop.get("value"))
        if key == "level" and value:
            out.append(f"level={value}")
        elif value in (True, "true", "mixed"):
            out.append(key if value != "mixed" else f"{key}=mixed")
    return (" " + " ".join(out)) if out else ""
