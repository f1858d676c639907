"""The console's Users page, for an admin: every user with their groups
and policies; make one (a password given here), disable or enable one,
delete one, give one an S3 key pair (its secret shown once). The same
calls as ``filestoraged user`` (``access.users``), so what is done here
holds at once on every face. Groups and policies are listed with what
they hold; they are made with ``filestoraged group`` and ``policy``."""

from __future__ import annotations

from html import escape
from typing import Optional

from ..access.s3keys import secret_of, server_key
from ..access.scopes import ADMIN
from ..errors import BadRequest, FileStoreError, http_status
from ..pages import COPY_SCRIPT
from ..web.messages import Request, Response, TextResponse
from .changes import see
from .views import Who, copy_button, frame


class UsersAdmin:
    """The page's handlers, for ``face.ConsoleFace`` (who asks and its forms are ``signed_in``'s)."""

    def users_page(self, request: Request) -> Response:
        token, who = self._caller(request)
        self._require(token, ADMIN)
        return self._users_page(who)

    def users_change(self, request: Request) -> Response:
        """One form's change: ``do`` is make, disable, enable, delete or key."""
        form = self._form(request)
        token, who = self._caller(request)
        self._require(token, ADMIN)
        users = self.app.users
        name = form.get("name", "").strip()
        try:
            do = form.get("do", "")
            if do == "make":
                users.create(name, form.get("password", ""), _listed(form.get("groups", "")),
                             _listed(form.get("policies", "")))
            elif do in ("disable", "enable"):
                users.set_disabled(name, do == "disable")
            elif do == "delete":
                users.delete(name)
            elif do == "key":
                key = server_key(self.app.config.s3_key_path)
                key_id = users.new_key(name)
                return self._users_page(who, made=(name, key_id, secret_of(key, key_id)))
            else:
                raise BadRequest("a Users form says what to do: make, disable, enable, delete or key")
        except FileStoreError as error:
            return self._users_page(who, error=error.text, status=http_status(error)[0])
        return see("/console/users")

    def _users_page(self, who: Optional[Who], made: Optional[tuple] = None, error: Optional[str] = None,
              status: int = 200) -> TextResponse:
        users, teams = self.app.users, self.app.users.teams
        rows = "".join(
            '<tr><td>%s%s</td><td data-label="Groups">%s</td><td data-label="Policies">%s</td><td>%s</td></tr>'
            % (escape(name), ' <span class="muted">(disabled)</span>' if value.get("disabled") else "",
               escape(", ".join(value["groups"])) or "-", escape(", ".join(value["policies"])) or "-",
               " ".join(_button(name, do, label) for do, label in (
                   ("enable", "Enable") if value.get("disabled") else ("disable", "Disable"),
                   ("key", "New S3 key"), ("delete", "Delete"))))
            for name, value in users.list())
        listed = ('<table><caption class="muted">Users</caption><thead><tr><th scope="col">Name</th>'
                  '<th scope="col">Groups</th><th scope="col">Policies</th><th scope="col"></th></tr></thead>'
                  '<tbody>%s</tbody></table>' % rows) if rows else "<p>No user yet.</p>"
        groups = "".join("<li><strong>%s</strong>: %s</li>" % (escape(name), escape(", ".join(policies)) or "no policy")
                         for name, policies in teams.groups()) or "<li>none</li>"
        policies = ", ".join(escape(name) for name, _ in teams.policies())
        shown = ""
        if made:
            name, key_id, secret = made
            shown = ('<div class="card" role="status"><h2>An S3 key of %s</h2><p>Copy the secret now: it is shown '
                     'this once.</p><dl><dt>Access key id</dt><dd><code id="secret-0">%s</code> %s</dd>'
                     '<dt>Secret access key</dt><dd><code id="secret-1">%s</code> %s</dd></dl></div>'
                     % (escape(name), escape(key_id), copy_button("secret-0", "Copy the access key id"),
                        escape(secret), copy_button("secret-1", "Copy the secret access key")))
        said = '<p class="error" role="alert">%s</p>' % escape(error) if error else ""
        form = ('<div class="card"><h2>New user</h2>%s<form method="post" action="/console/users">'
                '<input type="hidden" name="do" value="make">'
                '<label for="name">Name</label><input id="name" name="name" required maxlength="64">'
                '<label for="password">Password</label>'
                '<input id="password" name="password" type="password" autocomplete="new-password" required '
                'minlength="8">'
                '<label for="groups">Groups, separated by spaces</label><input id="groups" name="groups">'
                '<label for="policies">Policies of their own, separated by spaces</label>'
                '<input id="policies" name="policies" placeholder="readonly">'
                '<button type="submit">Make the user</button></form></div>' % said)
        body = ('<h1>Users</h1>%s<div class="card">%s</div>%s<div class="card"><h2>Groups and policies</h2>'
                '<ul>%s</ul><p class="muted">Policies: %s. Groups and policies are made with '
                '<code>filestoraged group</code> and <code>filestoraged policy</code>.</p></div>'
                % (shown, listed, form, groups, policies))
        return frame("Users", body, who, status, script=COPY_SCRIPT if made else None)


def _button(name: str, do: str, label: str) -> str:
    return ('<form method="post" action="/console/users" class="inline"><input type="hidden" name="name" value="%s">'
            '<input type="hidden" name="do" value="%s"><button type="submit" class="secondary" aria-label="%s %s">'
            '%s</button></form>' % (escape(name), do, label, escape(name), label))


def _listed(text: str) -> list:
    return [word for word in text.replace(",", " ").split() if word]
