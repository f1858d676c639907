"""A bucket's settings on its page, each with the form that changes it
(``settings``): versioning, object lock and its default retention,
lifecycle rules, who reads it, its quota, and deleting it."""

from __future__ import annotations

from html import escape
from typing import Optional, Tuple

from ..base.timestamps import iso_utc
from ..catalog.buckets import Bucket
from ..catalog.lifecycle import Rule, rules_of
from ..catalog.replication import rule_of
from ..pages import size_text

def settings_card(bucket: Bucket, public_acls: bool = False, stored: Optional[int] = None,
                  owner: Optional[Tuple[Optional[int], int]] = None) -> str:
    """A bucket's settings, each with the form that changes it: versioning
    (on, suspended, or never turned on), object lock and its default
    retention, lifecycle rules (each removable, a form for a new one),
    whether anyone may read it (where the operator allows public ACLs,
    ``public_acls``), its quota and the bytes it stores (``stored``; None:
    the backend keeps no quotas), and deleting it (if empty)."""
    state = {"Enabled": "on: every write keeps the version it replaces, a delete leaves a delete marker",
             "Suspended": "suspended: versions kept so far stay, new writes replace the current one"}.get(
        bucket.versioning, "off: a write replaces the key, a delete removes it")
    action, label = (("versioning-suspend", "Suspend versioning") if bucket.versioning == "Enabled" else
                     ("versioning-on", "Turn versioning on"))
    change = "" if bucket.lock is not None else _settings_button(bucket.name, action, label)
    facts = [("Versioning", state + change)]
    if bucket.lock is None:
        facts.append(("Object lock", "off (only a bucket made with it has it)"))
    else:
        default = bucket.lock.get("default")
        modes = "".join('<option value="%s"%s>%s</option>' % (value, " selected" if value == (default or {}).get(
            "mode", "") else "", value or "none") for value in ("", "GOVERNANCE", "COMPLIANCE"))
        facts.append(("Object lock", "on (versioning stays on); new versions are kept %s%s" % (
            "%s for %d days" % (escape(default["mode"]), default["days"]) if default else "as their writer asks",
            _settings_form(bucket.name, "lock-default", '<div class="row"><div><label for="lock-mode">Default '
                           'retention</label><select id="lock-mode" name="mode">%s</select></div><div><label '
                           'for="lock-days">Days</label><input id="lock-days" name="days" type="number" min="1" '
                           'value="%s"></div></div>' % (modes, (default or {}).get("days", "")),
                           "Set the default retention"))))
    rules = "".join('<li>%s %s</li>' % (escape(_rule_text(rule)), _settings_button(
        bucket.name, "lifecycle-remove", "Remove", rule=rule.id)) for rule in rules_of(bucket))
    rule_form = _settings_form(
        bucket.name, "lifecycle-add",
        '<label for="rule-prefix">Keys beginning with (empty: every key)</label><input id="rule-prefix" '
        'name="prefix"><div class="row">%s</div>' % "".join(
            '<div><label for="%s">%s</label><input id="%s" name="%s" type="number" min="1"></div>'
            % (name, text, name, name) for name, text in (
                ("expire_days", "Delete keys after (days)"), ("noncurrent_days", "Delete older versions after (days)"),
                ("abort_days", "End unfinished uploads after (days)"))), "Add the rule")
    facts.append(("Lifecycle", ('<ul>%s</ul>' % rules if rules else "no rules") + rule_form))
    if bucket.acl == "public-read":
        public = "anyone may read its keys, without a token" + _settings_button(bucket.name, "private",
                                                                                "Make it private")
    elif public_acls:
        public = "only tokens that may" + _settings_button(bucket.name, "public-read", "Let anyone read it")
    else:
        public = "only tokens that may (public buckets are off on this server: <code>--s3-public-acls</code>)"
    facts.append(("Who reads it", public))
    facts.append(("Quota", _quota_text(bucket, stored)))
    facts.append(("Replication", _replication_text(bucket)))
    if owner is not None:
        facts.append(("Owner", _owner_text(bucket, owner)))
    return ('<div class="card" id="settings"><h2>Settings</h2><dl>%s</dl>%s</div>'
            % ("".join("<dt>%s</dt><dd>%s</dd>" % fact for fact in facts),
               _settings_button(bucket.name, "delete", "Delete this bucket (if empty)")))


def _quota_text(bucket: Bucket, stored: Optional[int]) -> str:
    """What the bucket stores against its quota (``stored``; None where
    the backend counts a bucket only once it has a quota), and the form
    that sets it."""
    if bucket.quota is not None:
        stored = stored or 0
        said = "%s stored of %s (%d%%)" % (size_text(stored), size_text(bucket.quota),
                                            min(100, stored * 100 // max(bucket.quota, 1)))
    else:
        said = "none" if stored is None else "none; %s stored" % size_text(stored)
    return said + _settings_form(
        bucket.name, "quota", '<label for="quota">The most it may hold (500M, 20G; empty: no quota)</label>'
        '<input id="quota" name="quota" value="%s">' % ("" if bucket.quota is None else bucket.quota),
        "Set the quota")


def _replication_text(bucket: Bucket) -> str:
    """Where the bucket's new versions are copied (set from the command
    line: docs/replication.md)."""
    rule = rule_of(bucket.replication)
    if rule is None:
        return "none (<code>filestoraged bucket replicate</code> sets it)"
    return "new versions%s%s copied to <code>%s/%s</code>%s" % (
        " under <code>%s</code>" % escape(rule.prefix) if rule.prefix else "",
        " tagged <code>%s</code>" % escape(", ".join("%s=%s" % pair for pair in rule.tags)) if rule.tags else "",
        escape(rule.endpoint), escape(rule.bucket), ", delete markers too" if rule.markers else "")


def _owner_text(bucket: Bucket, owner: Tuple[Optional[int], int]) -> str:
    """Whose quota counts the bucket (its owner's: ``owner``, their quota
    and what all their buckets store), and the forms that change them."""
    said = "nobody: no owner's quota counts it"
    if bucket.owner is not None:
        quota, stored = owner
        said = "%s, whose buckets store %s%s" % (
            escape(bucket.owner), size_text(stored),
            " of a quota of %s" % size_text(quota) if quota is not None else " (no quota)")
        said += _settings_form(
            bucket.name, "owner-quota", '<label for="owner-quota">The most %s\'s buckets may hold together '
            '(500M, 20G; empty: no quota)</label><input id="owner-quota" name="quota" value="%s">'
            % (escape(bucket.owner), "" if quota is None else quota), "Set the owner's quota")
    return said + _settings_form(
        bucket.name, "owner", '<label for="owner">Give it to (a user\'s or a token\'s name; empty: nobody)</label>'
        '<input id="owner" name="owner" value="%s">' % escape(bucket.owner or ""), "Set the owner")


def _rule_text(rule: Rule) -> str:
    """A lifecycle rule in words."""
    said = []
    if rule.expire_days:
        said.append("keys deleted %d days after they were written" % rule.expire_days)
    if rule.expire_date:
        said.append("keys deleted from %s" % iso_utc(rule.expire_date))
    if rule.expired_markers:
        said.append("delete markers left alone removed")
    if rule.noncurrent_days:
        said.append("older versions deleted %d days after%s" % (
            rule.noncurrent_days, ", keeping the %d newest" % rule.newer_noncurrent if rule.newer_noncurrent else ""))
    if rule.abort_days:
        said.append("unfinished uploads ended after %d days" % rule.abort_days)
    return "%s%s: %s" % ("under %s" % rule.prefix if rule.prefix else "every key",
                         "" if rule.enabled else " (disabled)", "; ".join(said) or "nothing")


def _settings_form(bucket: str, action: str, inside: str, label: str, inline: bool = False, **fields: str) -> str:
    """A form of the bucket's settings: ``inside`` (its fields) and its button."""
    hidden = "".join('<input type="hidden" name="%s" value="%s">' % (name, escape(value))
                     for name, value in dict(fields, name=bucket, action=action).items())
    return ('<form method="post" action="/console/bucket/settings"%s>%s%s<button type="submit" class="secondary">%s'
            '</button></form>' % (' class="inline"' if inline else "", hidden, inside, escape(label)))


def _settings_button(bucket: str, action: str, label: str, **fields: str) -> str:
    return " " + _settings_form(bucket, action, "", label, inline=True, **fields)

