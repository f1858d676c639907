"""``filestoraged put|get|rm|ls``: the client's command line, and what it
prints. ``--url`` goes before or after the command (``--url X`` or
``--url=X``); a URL given as the target of ``get`` or ``rm`` names its own
server (``--url`` is then not asked), and its password (``user:pw@`` or
``?password=``) goes with it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from .commands import COMMANDS, Client, Refused, client_for
from .resume import PutInterrupted

DEFAULT_URL = "http://127.0.0.1:8080"
# The long options that take a value. Given as two words, a value that
# begins with "-" (one token in 64 does) would be read as an option of its
# own: each is joined with its value before parsing (``--token=VALUE``).
VALUED = frozenset(("--url", "--token", "--repo", "--password", "--max-downloads", "--expires-in", "--output",
                    "--delete-token"))


def parser() -> argparse.ArgumentParser:
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument("--url", default=argparse.SUPPRESS,
                     help="the server, http(s)://HOST[:PORT] (default: $FILESTORAGED_URL, else %s)" % DEFAULT_URL)
    url.add_argument("--token", default=argparse.SUPPRESS,
                     help="the API token, when the server asks for one (default: $FILESTORAGED_TOKEN)")
    main = argparse.ArgumentParser(prog="filestoraged", parents=[url], description=(
        "The filestoraged client. A token, when the server asks for one, comes from --token or "
        "$FILESTORAGED_TOKEN."))
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    put = sub.add_parser("put", parents=[url], help="upload files: to /files, to /data/REPO, or as share links")
    put.add_argument("files", nargs="+", metavar="FILE")
    put.add_argument("--repo", help="store in the repository REPO (/data/REPO) instead of /files")
    put.add_argument("--share", action="store_true", help="make a share link for each file (/file)")
    put.add_argument("--password", help="with --share: the password the link asks for")
    put.add_argument("--max-downloads", type=int, metavar="COUNT", help="with --share: downloads allowed (default 1)")
    put.add_argument("--expires-in", type=int, metavar="SECONDS",
                     help="with --share: the link's lifetime in seconds (default: the server's, 7 days)")
    put.add_argument("--json", action="store_true", help="print the server's JSON answer, one line per file")
    get = sub.add_parser("get", parents=[url], help="download: an id, /data/REPO/ID, or any URL (a share link too)")
    get.add_argument("target", metavar="ID|PATH|URL")
    get.add_argument("-o", "--output", metavar="FILE",
                     help="where to write it; - for standard output (default: the file's name, in this folder)")
    get.add_argument("--force", action="store_true", help="replace FILE if it exists")
    get.add_argument("--password", help="a share link's password (or in the URL: ?password= or user:PASSWORD@)")
    rm = sub.add_parser("rm", parents=[url], help="delete an object, or a share link")
    rm.add_argument("target", metavar="ID|PATH|URL")
    rm.add_argument("--delete-token", metavar="TOKEN", help="a share link's delete token (printed by put --share)")
    ls = sub.add_parser("ls", parents=[url], help="list a repository: ID and size in bytes, a line each")
    ls.add_argument("repo", metavar="REPO")
    return main


def joined(argv: List[str]) -> List[str]:
    """``argv`` with each of ``VALUED`` joined to the word after it (up to a
    ``--``, after which every word is a file or a target)."""
    words: List[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return words + argv[index:]
        if word in VALUED and index + 1 < len(argv):
            words.append("%s=%s" % (word, argv[index + 1]))
            index += 2
        else:
            words.append(word)
            index += 1
    return words


def main(argv: List[str]) -> int:
    args = parser().parse_args(joined(argv))
    # getattr: the parsers share one --url action, so none may give it a
    # default (set_defaults on one would reach every subparser's copy too).
    base = getattr(args, "url", None) or os.environ.get("FILESTORAGED_URL") or DEFAULT_URL
    client = Client(base, getattr(args, "token", None) or os.environ.get("FILESTORAGED_TOKEN"))
    try:
        if args.command == "put":
            for path in args.files:
                answer = client.put(path, args)
                print(json.dumps(answer) if args.json else _put_lines(answer))
        elif args.command == "get":
            saved = client_for(args.target, client, args.password).get(args.target, args.output, args.force)
            if saved != "-":
                print(saved)
        elif args.command == "rm":
            target = client_for(args.target, client, None)
            headers = {"X-Delete-Token": args.delete_token} if args.delete_token else None
            target.call("DELETE", target.path_of(args.target), headers=headers)
        else:
            for oid, size in client.ls(args.repo):
                print("%s\t%d" % (oid, size))
    except (Refused, OSError) as error:
        print("filestoraged: %s" % _said(error), file=sys.stderr)
        return 1
    except PutInterrupted as interrupted:
        print("\nfilestoraged: interrupted: %s" % interrupted, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        resumes = {"get": "a download resumes from its .part file when run again",
                   "put": "a file of 8 MiB or more goes on where it stopped when the same put is run again"}
        print("\nfilestoraged: interrupted" + (" (%s)" % resumes[args.command] if args.command in resumes else ""),
              file=sys.stderr)
        return 130
    return 0


def _put_lines(answer: dict) -> str:
    """The URL first (what a script takes with ``head -1``), then a share
    link's delete token and expiry."""
    lines = [answer["url"]]
    if "delete_token" in answer:
        lines.append("delete token: %s  (filestoraged rm %s --delete-token %s)"
                     % (answer["delete_token"], answer["url"], answer["delete_token"]))
        lines.append("expires: %s" % answer["expires_at"])
    return "\n".join(lines)


def first_word(argv: List[str]) -> Optional[str]:
    """The command word, past a leading ``--url X``, ``--token X`` (or ``=X``)."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in ("--url", "--token"):
            index += 2
        elif word.startswith(("--url=", "--token=")):
            index += 1
        else:
            return word
    return None


def _said(error: Exception) -> str:
    """What went wrong, for a person: a local file's trouble as ``PATH:
    reason`` (not Python's ``[Errno 2] ... 'PATH'``)."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return "%s: %s" % (error.filename, error.strerror)
    return str(error)


__all__ = ["COMMANDS", "first_word", "main"]
