"""Permission enforcement, off unless asked for: ``Sites.Selected`` site grants and the
``Mail.Send`` mailbox scope, as Microsoft 365 applies them to an app-only token.

Site roles, each including the ones before: ``read`` (GET), ``write`` (create, update,
delete items), ``manage`` (create lists, add and change columns), ``fullcontrol``. A site
without a grant answers 403 to everything, as SharePoint does for ``Sites.Selected``.
Mail: ``sendMail`` as a mailbox outside ``mailboxes`` answers 403 ``ErrorAccessDenied``
(Exchange RBAC for Applications / an application access policy); reading a mailbox needs
``Mail.Read``, which the emulated app never has once enforcement is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("read", "write", "manage", "fullcontrol")


@dataclass
class Permissions:
    enforced: bool = False
    site_roles: dict[str, str] = field(default_factory=dict)  # "sites/dtc" → role
    mailboxes: set[str] = field(default_factory=set)  # lower-case addresses Mail.Send covers

    def grant(self, site_path: str, role: str | None) -> None:
        """Give (or with ``None`` take away) the app's role on a site; turns enforcement on."""
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        self.enforced = True
        path = site_path.strip("/")
        if role is None:
            self.site_roles.pop(path, None)
        else:
            self.site_roles[path] = role

    def allow_mailbox(self, address: str) -> None:
        self.enforced = True
        self.mailboxes.add(address.lower())

    def site_allows(self, site_path: str, needed: str) -> bool:
        if not self.enforced:
            return True
        have = self.site_roles.get(site_path.strip("/"))
        return have is not None and ROLES.index(have) >= ROLES.index(needed)

    def mail_allows(self, address: str) -> bool:
        return not self.enforced or address.lower() in self.mailboxes


def needed_role(method: str, tail_parts: list[str]) -> str:
    """The site role a request below ``/sites/{site}`` needs (``tail_parts``: after the site)."""
    if method == "GET":
        return "read"
    n = len(tail_parts)
    if n <= 1:  # POST /lists: a new list
        return "manage"
    if n >= 3 and tail_parts[2] == "columns":
        return "manage"
    if n == 2:  # PATCH/DELETE a list itself
        return "manage"
    return "write"  # items: create, update, delete
