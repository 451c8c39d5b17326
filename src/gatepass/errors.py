"""The one exception tree of gatepass.

Every failure gatepass reports is a :class:`GatepassError`. Leaves carry a stable
``code`` (the error codes of API.md) and typed context attributes. Foreign
exceptions (``json``, ``cryptography``, ``sqlite3``, drivers) are translated at the
boundary with ``raise ... from exc``, so callers never catch a dependency's errors.

.. code-block:: text

    * GatepassError
      + ConfigurationError                      (code: configuration_error)
        - InvalidKey                            (code: invalid_key)
      + ValidationError                         (code: validation_error)
        - EmailTaken                            (code: email_taken)
        - WeakPassword                          (code: validation_error)
        - UnsupportedMediaType                  (code: unsupported_media_type)
        - PayloadTooLarge                       (code: payload_too_large)
      + AuthenticationError                     (code: invalid_token)
        - InvalidCredentials                    (code: invalid_credentials)
        - MissingCredential                     (code: invalid_token)
        - TokenError                            (code: invalid_token)
          · MalformedToken                      (code: invalid_token)
          · TokenTooLarge                       (code: invalid_token)
          · InvalidSignature                    (code: invalid_token)
          · UnknownKey(kid)                     (code: invalid_token)
          · DisallowedAlgorithm(alg)            (code: invalid_token)
          · UnsupportedHeader(name)             (code: invalid_token)
          · InvalidClaim(claim)                 (code: invalid_token)
          · TokenNotYetValid                    (code: invalid_token)
          · TokenExpired(expired_at)            (code: token_expired)
          · TokenRevoked                        (code: token_revoked)
          · RefreshTokenReused(family)          (code: refresh_reused)
        - SessionNotFound                       (code: invalid_token)
        - SessionExpired(reason)                (code: session_expired)
      + PermissionDenied(required_scopes)       (code: forbidden)
      + ReauthenticationRequired                (code: reauth_required)
      + CSRFError(reason)                       (code: csrf_failed)
      + RateLimited(retry_after)                (code: rate_limited)
      + NotFound                                (code: not_found)
        - MethodNotAllowed                      (code: method_not_allowed)
      + StoreError                              (code: store_unavailable)
        - StoreUnavailable                      (code: store_unavailable)
        - StoreConflict                         (code: store_conflict)

The ``detail`` of an error is for logs and developers; HTTP clients only ever see
the ``code`` and :attr:`GatepassError.public_detail`, a fixed generic sentence.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "CSRFError",
    "ConfigurationError",
    "DisallowedAlgorithm",
    "EmailTaken",
    "GatepassError",
    "InvalidClaim",
    "InvalidCredentials",
    "InvalidKey",
    "InvalidSignature",
    "MalformedToken",
    "MethodNotAllowed",
    "MissingCredential",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ReauthenticationRequired",
    "RefreshTokenReused",
    "SessionExpired",
    "SessionNotFound",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TokenError",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenRevoked",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedMediaType",
    "UnsupportedHeader",
    "ValidationError",
    "WeakPassword",
]


class GatepassError(Exception):
    """Root of every error gatepass raises."""

    #: Stable machine-readable code (API.md's error table).
    code: ClassVar[str] = "gatepass_error"
    #: The generic sentence a client may see; never contains input or secrets.
    public_detail: ClassVar[str] = "The request could not be processed."

    def __init__(self, detail: str | None = None) -> None:
        #: Developer-facing detail for logs; never sent to HTTP clients.
        self.detail = detail or self.public_detail
        super().__init__(self.detail)


# -- configuration ---------------------------------------------------------------


class ConfigurationError(GatepassError):
    """gatepass was set up with an invalid option (a programming or deploy error)."""

    code = "configuration_error"
    public_detail = "The server is misconfigured."


class InvalidKey(ConfigurationError):
    """Key material is unusable: wrong type, too short, wrong curve, not a key."""

    code = "invalid_key"
    public_detail = "The key is not acceptable."


# -- input validation ------------------------------------------------------------


class ValidationError(GatepassError):
    """A request or argument is malformed (bad email, wrong field type...)."""

    code = "validation_error"
    public_detail = "The request is not valid."

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        super().__init__(detail)
        #: The offending field, when one is known.
        self.field = field


class EmailTaken(ValidationError):
    """A user with this email already exists."""

    code = "email_taken"
    public_detail = "An account with this email already exists."


class WeakPassword(ValidationError):
    """A new password breaks the password policy (length, common-password list)."""

    public_detail = "The password does not meet the password policy."


class UnsupportedMediaType(ValidationError):
    """A JSON endpoint got a body that is not ``application/json``; nothing changed."""

    code = "unsupported_media_type"
    public_detail = "The request body must be application/json."


class PayloadTooLarge(ValidationError):
    """The request body is larger than allowed; it was not parsed."""

    code = "payload_too_large"
    public_detail = "The request body is too large."


# -- authentication --------------------------------------------------------------


class AuthenticationError(GatepassError):
    """A credential was missing, malformed, forged, expired or revoked."""

    code = "invalid_token"
    public_detail = "The credential is not valid."


class InvalidCredentials(AuthenticationError):
    """Email and password do not match (same error for unknown email)."""

    code = "invalid_credentials"
    public_detail = "The email or password is incorrect."


class MissingCredential(AuthenticationError):
    """The request carries no credential at all."""

    public_detail = "Authentication is required."


class TokenError(AuthenticationError):
    """A token (JWS/JWT or refresh token) failed verification."""


class MalformedToken(TokenError):
    """The token is not a strict compact JWS (segments, base64url, JSON)."""


class TokenTooLarge(TokenError):
    """The token is larger than the configured cap; nothing else was done with it."""


class InvalidSignature(TokenError):
    """The signature does not verify with the key found by ``kid``."""


class UnknownKey(TokenError):
    """No trusted key has the token's ``kid``."""

    def __init__(self, detail: str | None = None, *, kid: str | None = None) -> None:
        super().__init__(detail)
        #: The ``kid`` from the token header (attacker input; log with care).
        self.kid = kid


class DisallowedAlgorithm(TokenError):
    """The header's ``alg`` is not the algorithm pinned to the key."""

    def __init__(self, detail: str | None = None, *, alg: object = None) -> None:
        super().__init__(detail)
        #: The ``alg`` value from the header (any JSON type).
        self.alg = alg


class UnsupportedHeader(TokenError):
    """A header parameter gatepass never honours (``crit``, ``b64``, ``jku``...)."""

    def __init__(self, detail: str | None = None, *, name: str | None = None) -> None:
        super().__init__(detail)
        #: The header parameter name.
        self.name = name


class InvalidClaim(TokenError):
    """A claim is missing, of the wrong type or has the wrong value."""

    def __init__(self, detail: str | None = None, *, claim: str | None = None) -> None:
        super().__init__(detail)
        #: The claim name.
        self.claim = claim


class TokenNotYetValid(InvalidClaim):
    """``nbf`` (or ``iat``) lies in the future beyond the leeway."""


class TokenExpired(TokenError):
    """``exp`` has passed (or a refresh family's absolute lifetime has)."""

    code = "token_expired"
    public_detail = "The token has expired."

    def __init__(self, detail: str | None = None, *, expired_at: float | None = None) -> None:
        super().__init__(detail)
        #: When the token expired (Unix seconds), when known.
        self.expired_at = expired_at


class TokenRevoked(TokenError):
    """The token, its login (``sid``) or every login of its user was revoked."""

    code = "token_revoked"
    public_detail = "The token has been revoked."


class RefreshTokenReused(TokenError):
    """A spent refresh token was presented again; its whole family is now revoked."""

    code = "refresh_reused"
    public_detail = "The refresh token was already used; the login has been revoked."

    def __init__(self, detail: str | None = None, *, family: str | None = None) -> None:
        super().__init__(detail)
        #: The public id (sid) of the revoked family.
        self.family = family


class SessionNotFound(AuthenticationError):
    """The session id is unknown (never issued, logged out, or revoked)."""


class SessionExpired(AuthenticationError):
    """The session passed its idle or absolute timeout."""

    code = "session_expired"
    public_detail = "The session has expired."

    def __init__(self, detail: str | None = None, *, reason: str = "idle") -> None:
        super().__init__(detail)
        #: ``"idle"`` or ``"absolute"``.
        self.reason = reason


# -- authorisation, CSRF, throttling, lookups ---------------------------------------


class PermissionDenied(GatepassError):
    """The principal lacks a required scope."""

    code = "forbidden"
    public_detail = "You do not have permission to do this."

    def __init__(
        self, detail: str | None = None, *, required_scopes: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(detail)
        #: The scopes the operation requires.
        self.required_scopes = required_scopes


class ReauthenticationRequired(GatepassError):
    """The action needs the account's password again: it was missing or wrong.

    Ending other logins, and changing the password, are refused to a login that
    is older than the re-authentication window unless the request carries the
    password (ASVS 5.0 7.5.1, 7.5.2): a stolen session cookie alone cannot lock the
    real user out or take the account over.
    """

    code = "reauth_required"
    public_detail = "Enter your password again to do this."


class CSRFError(GatepassError):
    """A cookie-authenticated unsafe request lacks a valid CSRF token or origin."""

    code = "csrf_failed"
    public_detail = "The request failed the cross-site request forgery check."

    def __init__(self, detail: str | None = None, *, reason: str = "token") -> None:
        super().__init__(detail)
        #: ``"token"``, ``"origin"`` or ``"fetch-site"``.
        self.reason = reason


class RateLimited(GatepassError):
    """Too many failed logins for this account or client address."""

    code = "rate_limited"
    public_detail = "Too many attempts; try again later."

    def __init__(self, detail: str | None = None, *, retry_after: int = 60) -> None:
        super().__init__(detail)
        #: Seconds until the client may try again.
        self.retry_after = retry_after


class NotFound(GatepassError):
    """The object does not exist, or belongs to someone else."""

    code = "not_found"
    public_detail = "Not found."


class MethodNotAllowed(NotFound):
    """The path exists but not for this HTTP method."""

    code = "method_not_allowed"
    public_detail = "This method is not allowed here."


# -- stores ---------------------------------------------------------------------------


class StoreError(GatepassError):
    """A store backend failed."""

    code = "store_unavailable"
    public_detail = "The authentication store is unavailable."


class StoreUnavailable(StoreError):
    """The store cannot be reached or answered with an I/O error (fail closed)."""


class StoreConflict(StoreError):
    """A write conflicted with an existing record (a uniqueness constraint)."""

    code = "store_conflict"
    public_detail = "The record already exists."
