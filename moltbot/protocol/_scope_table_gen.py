"""Writes ``_scope_table.py``: OpenClaw's method → scope table, vendored from its ``protocol.schema.json``.

The gateway never reads the shared reference folder at run time, so the table the schema publishes (its
top-level ``methods`` object, 410 × ``{scope, since}``) is copied into the package as a compact module.
Run after updating the pinned schema::

    python -m moltbot.protocol._scope_table_gen ../shared/reference/openclaw-protocol/protocol.schema.json

``tests/v4/test_scopes_table.py`` renders the table again from the schema and compares it with the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("_scope_table.py")
_WIDTH = 110


def package_version(schema_path: Path) -> str:
    """The npm package version recorded in the ``SOURCE.md`` beside the schema (``| version | `X` |``)."""
    source = schema_path.with_name("SOURCE.md")
    match = re.search(r"^\| version \| `([^`]+)`", source.read_text(), re.M) if source.exists() else None
    if match is None:
        raise SystemExit(f"no version line in {source}; pass --version")
    return match.group(1)


def render_table(schema: dict[str, Any], *, version: str, sha256: str) -> str:
    """The text of ``_scope_table.py`` for ``schema`` (names grouped by scope, sorted within a group)."""
    groups: dict[str, list[str]] = {}
    for name, entry in schema["methods"].items():
        groups.setdefault(entry["scope"], []).append(name)
    lines = [
        '"""OpenClaw\'s method → scope table (protocol 4). GENERATED: do not edit by hand; regenerate with',
        "``python -m moltbot.protocol._scope_table_gen <path to protocol.schema.json>``.",
        "",
        "Source: the ``methods`` object of ``protocol.schema.json`` in the npm package",
        f"``@openclaw/gateway-protocol@{version}`` (MIT, (c) 2026 OpenClaw Foundation),",
        f"sha256 ``{sha256}``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f'SOURCE = "@openclaw/gateway-protocol@{version}"',
        f'SCHEMA_SHA256 = "{sha256}"',
        "",
        "# scope → the methods that need it (\"node\": node role only; \"dynamic\": decided from the params).",
        "_BY_SCOPE: dict[str, str] = {",
    ]
    for scope in sorted(groups):
        lines.append(f'    "{scope}": (')
        for chunk in textwrap.wrap(" ".join(sorted(groups[scope])), _WIDTH - 14, break_on_hyphens=False,
                                   break_long_words=False):
            lines.append(f'        "{chunk} "')
        lines.append("    ),")
    lines += [
        "}",
        "",
        "# method name → scope string, exactly as the schema has it.",
        "METHOD_SCOPES: dict[str, str] = {",
        "    name: scope for scope, names in _BY_SCOPE.items() for name in names.split()",
        "}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Regenerate moltbot/protocol/_scope_table.py from OpenClaw's protocol.schema.json."""
    parser = argparse.ArgumentParser(prog="python -m moltbot.protocol._scope_table_gen", description=main.__doc__)
    parser.add_argument("schema", type=Path, help="path to protocol.schema.json")
    parser.add_argument("--version", help="the package version (default: read from SOURCE.md beside the schema)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the vendored table differs")
    args = parser.parse_args(argv)
    raw = args.schema.read_bytes()
    text = render_table(json.loads(raw), version=args.version or package_version(args.schema),
                        sha256=hashlib.sha256(raw).hexdigest())
    if args.check:
        same = TABLE_PATH.exists() and TABLE_PATH.read_text() == text
        print("up to date" if same else f"{TABLE_PATH} differs from the schema", file=sys.stderr)
        return 0 if same else 1
    TABLE_PATH.write_text(text)
    print(f"wrote {TABLE_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
