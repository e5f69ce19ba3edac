"""Identities, tokens, roles and the audit log of a shared server.

``AuthService`` (``service.py``) creates users and tokens, checks a bearer token
(``authenticate``) and keeps the audit log; ``roles.py`` says what each role may do;
``hashing.py`` makes and checks token secrets. The server's middleware
(``modelplane.server.auth``) puts them in front of every route.
"""

from modelplane.auth.entities import AuditEntry, Identity, Token, User
from modelplane.auth.roles import ROLES, Role, role_allows
from modelplane.auth.service import AuthService

__all__ = ["ROLES", "AuditEntry", "AuthService", "Identity", "Role", "Token", "User",
           "role_allows"]
