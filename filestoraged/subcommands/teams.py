"""``user``, ``group`` and ``policy``: users, their groups and the policies
that say what they may do, managed from the command line in the records
every daemon reads (``access.users``, ``access.teams``). A password is
read from standard input (one line), or asked twice on a terminal; it is
never an argument, which other users of the machine could see."""

from __future__ import annotations

import getpass
import sys
from typing import List

from ..errors import BadRequest, NotFound
from .opened import open_records, when

USAGE = {
    "user": """usage: filestoraged user create NAME [--group GROUP ...] [--policy POLICY ...]   (password on stdin)
       filestoraged user list | show NAME | password NAME | disable NAME | enable NAME | delete NAME
       filestoraged user join NAME GROUP | leave NAME GROUP | attach NAME POLICY | detach NAME POLICY
       filestoraged user key create NAME [--expires-in SECONDS] | key list NAME | key revoke NAME KEY-ID""",
    "group": """usage: filestoraged group create NAME | list | delete NAME
       filestoraged group attach NAME POLICY | detach NAME POLICY""",
    "policy": """usage: filestoraged policy create NAME FILE   (FILE: a policy document; - reads stdin)
       filestoraged policy list | show NAME | delete NAME""",
}


def run_teams(config) -> int:
    from ..access.users import Users
    from ..errors import FileStoreError

    records = open_records(config)
    if isinstance(records, int):
        return records
    users = Users(records)
    try:
        done = {"user": _user, "group": _group, "policy": _policy}[config.command](config, users, list(config.words))
    except FileStoreError as error:
        print("filestoraged %s: %s" % (config.command, error.text), file=sys.stderr)
        return 1
    finally:
        records.close()
    if done is None:
        print(USAGE[config.command], file=sys.stderr)
        return 2
    return done


def _user(config, users, words: List[str]):
    action, names = (words[0], words[1:]) if words else ("", [])
    if action == "create" and len(names) == 1:
        users.create(names[0], _password(), list(config.groups), list(config.policies))
        print("user %s created%s" % (names[0], _listed(config.groups, config.policies)))
    elif action == "list" and not names:
        print("name\tgroups\tpolicies\tcreated\tdisabled")
        for name, value in users.list():
            print("\t".join((name, ",".join(value["groups"]) or "-", ",".join(value["policies"]) or "-",
                             when(value["created_at"]), "yes" if value.get("disabled") else "no")))
    elif action == "show" and len(names) == 1:
        value = users.get(names[0])
        if value is None:
            raise NotFound("no user named %r" % names[0])
        print("user %s%s, created %s%s" % (names[0], " (disabled)" if value.get("disabled") else "",
                                           when(value["created_at"]), _listed(value["groups"], value["policies"])))
        for key_id, key in users.keys(names[0]):
            print("S3 key %s, made %s, expires %s" % (key_id, when(key["created_at"]), when(key.get("expires_at"))))
    elif action == "password" and len(names) == 1:
        if users.get(names[0]) is None:
            raise NotFound("no user named %r" % names[0])
        users.set_password(names[0], _password())
        print("password of %s changed" % names[0])
    elif action in ("disable", "enable") and len(names) == 1:
        users.set_disabled(names[0], action == "disable")
        print("user %s %sd" % (names[0], action))
    elif action == "delete" and len(names) == 1:
        users.delete(names[0])
        print("user %s deleted, with its S3 keys" % names[0])
    elif action in ("join", "leave") and len(names) == 2:
        users.join(names[0], names[1], action == "join")
        print("user %s %s group %s" % (names[0], "joined" if action == "join" else "left", names[1]))
    elif action in ("attach", "detach") and len(names) == 2:
        users.attach(names[0], names[1], action == "attach")
        print("policy %s %sed %s user %s" % (names[1], action, "to" if action == "attach" else "from", names[0]))
    elif action == "key":
        return _key(config, users, names)
    else:
        return None
    return 0


def _key(config, users, words: List[str]):
    from ..access.s3keys import secret_of, server_key

    action, names = (words[0], words[1:]) if words else ("", [])
    if action == "create" and len(names) == 1:
        key = server_key(config.s3_key_path)  # before the key id: one it could not sign with
        key_id = users.new_key(names[0], config.expires_in or None)
        print("S3 key of %s, expires %s:" % (names[0], "never" if not config.expires_in else
                                             "in %d s" % config.expires_in), file=sys.stderr)
        print("AWS_ACCESS_KEY_ID=%s" % key_id)  # lines for the shell (eval "$(...)")
        print("AWS_SECRET_ACCESS_KEY=%s" % secret_of(key, key_id))
    elif action == "list" and len(names) == 1:
        print("key id\tcreated\texpires")
        for key_id, value in users.keys(names[0]):
            print("\t".join((key_id, when(value["created_at"]), when(value.get("expires_at")))))
    elif action == "revoke" and len(names) == 2:
        users.revoke_key(names[0], names[1])
        print("revoked %s" % names[1])
    else:
        return None
    return 0


def _group(config, users, words: List[str]):
    action, names = (words[0], words[1:]) if words else ("", [])
    teams = users.teams
    if action == "create" and len(names) == 1:
        teams.create_group(names[0])
        print("group %s created" % names[0])
    elif action == "list" and not names:
        print("name\tpolicies\tmembers")
        for name, policies in teams.groups():
            print("\t".join((name, ",".join(policies) or "-", ",".join(users.members(name)) or "-")))
    elif action == "delete" and len(names) == 1:
        users.delete_group(names[0])
        print("group %s deleted" % names[0])
    elif action in ("attach", "detach") and len(names) == 2:
        teams.attach_to_group(names[0], names[1], action == "attach")
        print("policy %s %sed %s group %s" % (names[1], action, "to" if action == "attach" else "from", names[0]))
    else:
        return None
    return 0


def _policy(config, users, words: List[str]):
    action, names = (words[0], words[1:]) if words else ("", [])
    teams = users.teams
    if action == "create" and len(names) == 2:
        if names[1] == "-":
            text = sys.stdin.read()
        else:
            try:
                with open(names[1], encoding="utf-8") as document:
                    text = document.read()
            except (OSError, UnicodeError) as error:
                raise BadRequest("the policy document %s cannot be read: %s" % (names[1], error)) from None
        teams.put_policy(names[0], text)
        print("policy %s written" % names[0])
    elif action == "list" and not names:
        print("name\tkind\tattached to")
        for name, built_in in teams.policies():
            print("\t".join((name, "built in" if built_in else "made", ",".join(users.attached(name)) or "-")))
    elif action == "show" and len(names) == 1:
        text = teams.policy_text(names[0])
        if text is None:
            raise NotFound("no policy named %r" % names[0])
        print(text)
    elif action == "delete" and len(names) == 1:
        users.delete_policy(names[0])
        print("policy %s deleted" % names[0])
    else:
        return None
    return 0


def _password() -> str:
    """One line of standard input; on a terminal, asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise BadRequest("the two passwords differ")
    return first


def _listed(groups, policies) -> str:
    said = (["groups " + ", ".join(groups)] if groups else []) + (["policies " + ", ".join(policies)] if policies
                                                                    else [])
    return (": " + "; ".join(said)) if said else ""
