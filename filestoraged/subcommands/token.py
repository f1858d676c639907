"""``token create``, ``token list`` and ``token revoke``: API tokens made
and revoked from the command line, in the records every daemon reads."""

from __future__ import annotations

import sys

from .opened import open_records, when


def run_token(config) -> int:
    """``token create --scope S [--name N] [--expires-in S]`` (the secret alone
    on the last line), ``token list`` (never secrets), ``token revoke NAME``."""
    from ..errors import FileStoreError
    from ..access.s3keys import secret_of, server_key
    from ..access.tokens import TokenStore

    action = config.words[0] if config.words else ""
    records = open_records(config)
    if isinstance(records, int):
        return records
    tokens = TokenStore(records)
    try:
        if (action == "create" and len(config.words) == 1) or (action == "rotate" and len(config.words) == 2):
            with_s3 = config.s3 if action == "create" else any(found.name == config.words[1] and found.s3_key
                                                               for found in tokens.list())
            key = server_key(config.s3_key_path) if with_s3 else None  # before the token: a key it cannot use
            if action == "create":
                token, secret = tokens.create(config.scopes, config.token_name or None, config.expires_in or None,
                                              s3=config.s3)
            else:
                token, secret = tokens.rotate(config.words[1])
            said = "token %s%s: %s, expires %s" % (token.name, " rotated" if action == "rotate" else "",
                                                   " ".join(map(str, token.scopes)), when(token.expires_at))
            # What is for people goes to stderr: standard output is the secret
            # alone (TOKEN=$(...), > file), or lines for the shell (eval "$(...)").
            if key is None or token.s3_key is None:
                print(said, file=sys.stderr)
                print(secret)
            else:
                print(said + "; its S3 key pair:", file=sys.stderr)
                print("FILESTORAGED_TOKEN=%s" % secret)
                print("AWS_ACCESS_KEY_ID=%s" % token.s3_key)
                print("AWS_SECRET_ACCESS_KEY=%s" % secret_of(key, token.s3_key))
        elif action == "list" and len(config.words) == 1:
            print("name\tscopes\tcreated\texpires\tlast used\tS3 key")
            for token in tokens.list():
                print("\t".join((token.name, " ".join(map(str, token.scopes)), when(token.created_at),
                                 when(token.expires_at), when(token.last_used), token.s3_key or "-")))
        elif action == "revoke" and len(config.words) == 2:
            tokens.revoke(config.words[1])
            print("revoked %s" % config.words[1])
        else:
            print("usage: filestoraged token create --scope SCOPE [--scope ...] [--name NAME] [--expires-in SECONDS]"
                  " [--s3] | token list | token rotate NAME | token revoke NAME", file=sys.stderr)
            return 2
    except FileStoreError as error:  # a server key that cannot be made is one too
        print("filestoraged token: %s" % error.text, file=sys.stderr)
        return 1
    finally:
        records.close()
    return 0
