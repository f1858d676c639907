"""The page that shows a signed-in user what they may do: their groups,
and each policy that applies to them (their own, and each group's), its
statements as the evaluator reads them (``access.policy``)."""

from __future__ import annotations

from html import escape
from typing import List, Optional, Tuple

from ..access.teams import identity_policy
from ..web.messages import TextResponse
from .views import Who, frame


def access_page(users, user, who: Optional[Who]) -> TextResponse:
    """``users``: the store's (``access.users.Users``); ``user``: who asks
    (``access.users.User``: one of the store's, or one an OpenID provider
    vouched for, whose groups are the provider's)."""
    name = user.name
    own = [] if user.federated else (users.get(name) or {}).get("policies", [])
    applies: List[Tuple[str, str]] = [(policy, "yours") for policy in own]
    for group in user.groups:
        found = users.teams.group(group)
        applies += [(policy, "the group " + group) for policy in (found or {}).get("policies", [])]
    cards = [_policy_card(users, policy, source) for policy, source in applies]
    groups = ", ".join(escape(group) for group in user.groups) or "none"
    body = ('<h1>What you may do</h1><div class="card"><p>You are <strong>%s</strong>; your groups: %s. A statement '
            'that denies wins over every one that allows; what no statement allows is refused.</p></div>%s'
            % (escape(name), groups, "".join(cards) or '<div class="card"><p>No policy applies to you: you may do '
                                                         'nothing here yet. Ask whoever runs this server.</p></div>'))
    return frame("What you may do", body, who)


def _policy_card(users, policy: str, source: str) -> str:
    text = users.teams.policy_text(policy)
    if text is None:
        return ""
    rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
        % ("Allow" if statement.allows else "Deny",
           ("not " if statement.not_actions else "") + escape(", ".join(statement.actions)),
           ("not " if statement.not_resources else "") + escape(", ".join(statement.resources)),
           escape(", ".join("%s %s" % (condition.operator, condition.key) for condition in statement.conditions))
           or "-")
        for statement in identity_policy(text).statements)
    return ('<div class="card"><h2>%s <span class="muted">(%s)</span></h2><table><thead><tr><th>Effect</th>'
            '<th>Actions</th><th>Resources</th><th>Conditions</th></tr></thead><tbody>%s</tbody></table></div>'
            % (escape(policy), escape(source), rows))
