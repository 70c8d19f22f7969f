"""Who is calling: bearer tokens (JWT) checked against the operator's settings.

Off unless configured. `AUTH_JWT_SECRET` accepts HS256 tokens signed with that secret
(local use and tests; `binconv-service token` mints them); `AUTH_JWKS_URL` with
`AUTH_ISSUER` and `AUTH_AUDIENCE` accepts an OIDC provider's RS256/ES256 tokens, its keys
fetched, cached and refreshed by PyJWT's `PyJWKClient`. Only the configured algorithms
are accepted, so `alg: none` and an HS256 token signed with a public key both fail.

Checking a signature costs tens of microseconds (RSA more), and a client sends the same
token on every request: a verified token is remembered until it expires (at most
`auth_cache_seconds`), so a request with a known token costs a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options
from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HS_ALGORITHMS = ["HS256"]
CACHED_TOKENS = 10_000
# The leeway on exp/nbf for clocks that disagree a little.
LEEWAY_SECONDS = 10.0
MIN_SECRET_BYTES = 32


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    auth_jwt_secret: SecretStr | None = None
    auth_jwks_url: str = ""
    # Required with a JWKS; checked when set with a secret.
    auth_issuer: str = ""
    auth_audience: str = ""
    # Comma-separated; what an OIDC provider signs with.
    auth_jwks_algorithms: str = "RS256,ES256"
    # How long the provider's key set is used before it is fetched again.
    auth_jwks_refresh_seconds: float = 300.0
    # The longest a verified token is taken on trust without checking it again.
    auth_cache_seconds: float = 300.0

    @model_validator(mode="after")
    def _one_mode(self) -> AuthSettings:
        if self.auth_jwt_secret is not None and self.auth_jwks_url:
            raise ValueError("set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both")
        secret = self.auth_jwt_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            # What RFC 7518 asks of an HS256 key; PyJWT warns below it.
            raise ValueError(f"AUTH_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if self.auth_jwks_url and not (self.auth_issuer and self.auth_audience):
            raise ValueError("AUTH_JWKS_URL needs AUTH_ISSUER and AUTH_AUDIENCE")
        return self

    @property
    def enabled(self) -> bool:
        return self.auth_jwt_secret is not None or bool(self.auth_jwks_url)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: `sub` of its token, the owner of what it creates."""

    sub: str
    expires_at: float  # seconds since the epoch


class AuthFailed(Exception):
    """A token that is not accepted. The message says what was wrong with it (missing,
    expired, bad signature, wrong audience...), never which key or secret was used."""


class AuthUnavailable(Exception):
    """The provider's keys cannot be fetched now: the caller may retry."""


MISSING = "authentication required: send the header Authorization: Bearer <token>"
_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token's audience is not accepted"),
    (jwt.InvalidIssuerError, "the token's issuer is not accepted"),
    (jwt.InvalidSignatureError, "the token's signature is invalid"),
    (jwt.InvalidAlgorithmError, "the token's signing algorithm is not accepted"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim (sub, exp)"),
    (jwt.PyJWKClientError, "the token is signed with a key the provider does not publish"),
    (jwt.DecodeError, "the token is malformed"),
]


def reason(error: Exception) -> str:
    for kind, text in _REASONS:
        if isinstance(error, kind):
            return text
    return "the token is not accepted"


class TokenVerifier:
    """Checks bearer tokens; one per process, shared by every request."""

    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.time) -> None:
        if not settings.enabled:
            raise ValueError("authentication is not configured")
        self._clock = clock
        self._cache_seconds = settings.auth_cache_seconds
        self._cache: dict[str, Caller] = {}
        # exp and nbf are checked here, on the verifier's clock, which the cache uses too.
        self._options: Options = {
            "require": ["exp", "sub"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        self._issuer = settings.auth_issuer or None
        self._audience = settings.auth_audience or None
        if not self._audience:
            self._options["verify_aud"] = False
        self._jwks: jwt.PyJWKClient | None = None
        if settings.auth_jwt_secret is not None:
            self._secret: str = settings.auth_jwt_secret.get_secret_value()
            self._algorithms = HS_ALGORITHMS
        else:
            self._secret = ""
            self._algorithms = [a.strip() for a in settings.auth_jwks_algorithms.split(",")]
            # The set is fetched again after `lifespan`, or at once (after a cooldown, so
            # made-up key ids cannot make it fetch on every request) for a new key id.
            self._jwks = jwt.PyJWKClient(
                settings.auth_jwks_url,
                lifespan=settings.auth_jwks_refresh_seconds,
                timeout=5,
                cooldown_duration=30,
            )

    async def verify(self, token: str) -> Caller:
        """The caller a token names, or AuthFailed (AuthUnavailable if the provider's keys
        cannot be fetched)."""
        now = self._clock()
        known = self._cache.get(token)
        if known is not None and now < known.expires_at:
            return known
        if not token:
            raise AuthFailed(MISSING)
        if self._jwks is None:
            caller = self._check(token, self._secret, now)
        else:
            key = await asyncio.to_thread(self._signing_key, token)
            caller = self._check(token, key, now)
        self._remember(token, caller, now)
        return caller

    def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            # Checked before any key is fetched: `alg: none` and made-up algorithms fail here.
            if jwt.get_unverified_header(token).get("alg") not in self._algorithms:
                raise AuthFailed("the token's signing algorithm is not accepted")
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as error:
            raise AuthUnavailable("the identity provider's keys cannot be fetched") from error
        except (jwt.PyJWKClientError, jwt.DecodeError) as error:
            raise AuthFailed(reason(error)) from None

    def _check(self, token: str, key: Any, now: float) -> Caller:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options=self._options,
            )
        except jwt.PyJWTError as error:
            raise AuthFailed(reason(error)) from None
        sub, expires, begins = claims["sub"], claims["exp"], claims.get("nbf", 0)
        if not isinstance(sub, str) or not sub:
            raise AuthFailed("the token's subject (sub) is empty")
        if not isinstance(expires, int | float) or not isinstance(begins, int | float):
            raise AuthFailed("the token is malformed")
        if now >= expires + LEEWAY_SECONDS:
            raise AuthFailed(reason(jwt.ExpiredSignatureError()))
        if now < begins - LEEWAY_SECONDS:
            raise AuthFailed(reason(jwt.ImmatureSignatureError()))
        # A cached token is trusted no longer than its exp or the cache's bound.
        return Caller(sub, min(expires + LEEWAY_SECONDS, now + self._cache_seconds))

    def _remember(self, token: str, caller: Caller, now: float) -> None:
        if len(self._cache) >= CACHED_TOKENS:
            for known, cached in list(self._cache.items()):
                if cached.expires_at <= now:
                    del self._cache[known]
            while len(self._cache) >= CACHED_TOKENS:  # all live: drop the oldest
                del self._cache[next(iter(self._cache))]
        self._cache[token] = caller


def verifier(settings: AuthSettings) -> TokenVerifier | None:
    """The verifier the settings ask for, or None in open mode."""
    return TokenVerifier(settings) if settings.enabled else None


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; AuthFailed otherwise."""
    if not authorization:
        raise AuthFailed(MISSING)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthFailed("the Authorization header must be: Bearer <token>")
    return token.strip()


def mint(
    secret: str,
    sub: str,
    expires_in: float = 3600.0,
    *,
    issuer: str = "",
    audience: str = "",
    now: float | None = None,
) -> str:
    """An HS256 token for `sub` (local use: `binconv-service token --sub NAME`)."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {"sub": sub, "iat": int(issued), "exp": int(issued + expires_in)}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
