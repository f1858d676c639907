"""One need of a main-port request judged as the S3 port judges it: the
principal's rights (a token's scopes, a user's policies) and, where the
need is in a bucket, the bucket's policy, by the one evaluator
(``access.policy``): a statement of the bucket's that denies refuses
whatever the token's scopes allow; one that allows lets in what they do
not; else the principal's own rights decide."""

from __future__ import annotations

import time
from typing import Callable, Dict, Mapping, Optional, Tuple

from .actions import S3_KNOWN, asked_for
from .policy import Policy, judge, read_policy
from .scopes import Scope
from .users import User

BucketPolicy = Callable[[str], Optional[str]]  # a bucket's name -> its policy's text (None: none)


def bucket_policy(text_of: BucketPolicy, wanted: Scope) -> Optional[Policy]:
    """The policy of the bucket ``wanted`` is in, read (None: not in a bucket, or it has none)."""
    if wanted.face != "data" or not wanted.namespace:
        return None
    text = text_of(wanted.namespace)
    return None if text is None else read_policy(text, S3_KNOWN, wanted.namespace)


def judged(principal, wanted: Scope, address: str, text_of: BucketPolicy) -> Tuple[bool, str]:
    """``(allowed, why not)`` for ``principal`` (a token, a user, or None:
    anonymous) acting within ``wanted``, asked from ``address``. The
    condition keys are made only where a policy is judged: a token's
    scopes alone need none."""
    policy = bucket_policy(text_of, wanted)
    context: Mapping[str, str] = context_of(address) if policy is not None or isinstance(principal, User) else {}
    if policy is not None:
        asks = asked_for(wanted, principal.name if principal is not None else None, context)
        own = principal.policies if isinstance(principal, User) else ()
        decisions = [judge((policy,) + own, asked) for asked in asks]
        denied = next((decision for decision in decisions if decision.allowed is False), None)
        if denied is not None:
            return False, denied.why("bucket policy" if not own else "user's policies or the bucket policy")
        if asks and all(decision.allowed for decision in decisions):
            return True, ""
    if principal is None:
        return False, "a token or a user's password is needed"
    return (True, "") if principal.allows(wanted, context) else (False, lacks(principal, wanted))


def context_of(address: str) -> Dict[str, str]:
    """The condition keys a policy may ask of a request of the main port
    (``access.policy_conditions``)."""
    now = time.time()
    return {"aws:SourceIp": address, "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "aws:EpochTime": str(int(now))}


def lacks(principal, scope: Scope) -> str:
    """Why ``principal`` may not act within ``scope`` by its own rights, as a 403 says it."""
    if isinstance(principal, User):
        return ("no policy of the user %r allows %s (or one denies it)"
                % (principal.name, ", ".join(sorted({asked.action for asked in asked_for(scope, principal.name, {})}))))
    return "token %r lacks the scope %s" % (principal.name, scope)
