"""``opsengine kb search QUERY`` and ``opsengine kb add FILE.md``: the knowledge base from
the shell (the store must not be held by a running engine; see :mod:`.tickets`).

An article file is Markdown; its title is the first ``# `` heading (or ``--title``), and an
optional front matter block sets tags and state::

    ---
    tags: [vpn, password]
    state: published
    ---
    # Reset your VPN password
    ...
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from opsengine.cli.common import EXIT_BAD_INPUT, CliError, Domains, local_user
from opsengine.cli.result_format import print_records
from opsengine.cli.tickets import desk_parser


def read_article(path: Path) -> dict[str, Any]:
    """Title, body, tags and state from a Markdown file; errors name the file and line."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"{path}: cannot read: {e}", EXIT_BAD_INPUT) from None
    meta: dict[str, Any] = {}
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        try:
            end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
        except StopIteration:
            raise CliError(
                f"{path}:1: front matter '---' is never closed", EXIT_BAD_INPUT
            ) from None
        try:
            meta = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as e:
            raise CliError(f"{path}: front matter: {e}", EXIT_BAD_INPUT) from None
        if not isinstance(meta, dict) or set(meta) - {"title", "tags", "state"}:
            raise CliError(f"{path}:2: front matter takes title, tags and state", EXIT_BAD_INPUT)
        lines = lines[end + 1 :]
    title = meta.get("title")
    for i, line in enumerate(lines):
        if title is None and line.startswith("# "):
            title = line[2:].strip()
            lines = lines[:i] + lines[i + 1 :]
            break
    return {"title": title, "body": "\n".join(lines).strip(), "tags": meta.get("tags") or [],
            "state": meta.get("state", "draft")}  # fmt: skip


def _search(d: Domains, args: argparse.Namespace) -> None:
    found = d.kb.search(args.query, tags=args.tag, state=args.state, limit=args.limit)
    if args.json:
        print_records(found, args)
        return
    if not found["hits"]:
        print("(no article matches)")
        return
    for h in found["hits"]:
        print(f"#{h['id']}  {h['score']:.2f}  {h['title']}")
        snippet = h["highlight"].replace("<b>", "*").replace("</b>", "*")
        if snippet:
            print(f"      {snippet}")


def _add(d: Domains, args: argparse.Namespace) -> None:
    path = Path(args.file)
    a = read_article(path)
    if args.title:
        a["title"] = args.title
    if args.publish:
        a["state"] = "published"
    if args.tag:
        a["tags"] = [*a["tags"], *args.tag]
    if not a["title"]:
        raise CliError(f"{path}: no title (a '# ' heading, front matter or --title)",
                       EXIT_BAD_INPUT)  # fmt: skip
    try:
        created = d.kb.create(**a, actor=args.actor or local_user(fallback="cli"))
    except ValueError as e:
        raise CliError(f"{path}: {e}", EXIT_BAD_INPUT) from None
    print(f"article {created['id']}: {created['title']} ({created['state']})")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``kb``."""
    kb = subparsers.add_parser("kb", help="the knowledge base: search and add articles")
    sub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    p = desk_parser(sub, "search", _search, "ranked full-text search", json_out=True)
    p.add_argument("query")
    p.add_argument("--tag", action="append", help="only articles with this tag (repeatable)")
    p.add_argument("--state", default="published", help="published (default) or draft")
    p.add_argument("--limit", type=int, default=10)
    p = desk_parser(sub, "add", _add, "add an article from a Markdown file")
    p.add_argument("file", metavar="FILE.md")
    p.add_argument("--title", help="instead of the file's first '# ' heading")
    p.add_argument("--tag", action="append", help="more tags (repeatable)")
    p.add_argument("--publish", action="store_true", help="publish now (default: a draft)")
