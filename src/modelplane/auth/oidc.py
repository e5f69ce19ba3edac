"""Optional sign-in with an identity provider's tokens (OIDC / JWT).

Set ``MODELPLANE_OIDC_ISSUER`` (and ``MODELPLANE_OIDC_AUDIENCE``; the key set is read from
``MODELPLANE_OIDC_JWKS_URL``, default ``<issuer>/.well-known/jwks.json``): a bearer token
that is a JWT signed by one of the issuer's keys (RS256, ES256, PS256, EdDSA), for this
audience, unexpired, is accepted. The user is the ``sub`` claim (or
``preferred_username``/``email`` when present); the role is the claim named by
``MODELPLANE_OIDC_ROLE_CLAIM`` (default ``modelplane_role``), a role name or a list of
names (the highest counts), else ``reader``. Uses PyJWT (``pip install
'modelplane[oidc]'``), imported only when an issuer is set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelplane.auth.entities import Identity
from modelplane.auth.roles import LADDER, PREDICT, rank
from modelplane.core.errors import ConfigurationError, UnauthenticatedError

__all__ = ["OidcVerifier"]

_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class OidcVerifier:
    def __init__(self, issuer: str, *, audience: str = "", jwks_url: str = "",
                 role_claim: str = "modelplane_role") -> None:
        try:
            import jwt
        except ImportError:
            raise ConfigurationError(
                "MODELPLANE_OIDC_ISSUER is set but PyJWT is not installed: pip install "
                "'modelplane[oidc]'", details={"field": "MODELPLANE_OIDC_ISSUER"}) from None
        self.issuer = issuer.rstrip("/")
        self.audience = audience or None
        self.role_claim = role_claim
        self._jwt = jwt
        self._keys = jwt.PyJWKClient(jwks_url or f"{self.issuer}/.well-known/jwks.json",
                                     cache_keys=True, lifespan=300, timeout=5)

    @staticmethod
    def looks_like_jwt(text: str) -> bool:
        return text.count(".") == 2 and text.startswith("ey")

    def verify(self, text: str) -> Identity:
        jwt = self._jwt
        try:
            key = self._keys.get_signing_key_from_jwt(text)
            claims: dict[str, Any] = jwt.decode(
                text, key.key, algorithms=_ALGORITHMS, audience=self.audience,
                issuer=self.issuer, options={"require": ["exp", "iss", "sub"],
                                             "verify_aud": self.audience is not None})
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError("the token has expired",
                                       details={"reason": "expired"}) from None
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise UnauthenticatedError(f"the identity provider's token was refused: {exc}",
                                       details={"reason": "invalid_jwt"}) from None
        user = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
        return Identity(user=user, role=self._role(claims.get(self.role_claim)),
                        token_name="oidc",
                        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC))

    @staticmethod
    def _role(value: Any) -> str:
        names = [value] if isinstance(value, str) else list(value or [])
        known = [str(n).lower() for n in names if str(n).lower() in (*LADDER, PREDICT)]
        if not known:
            return "reader"
        return max(known, key=rank)
