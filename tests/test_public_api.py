"""The public API is curated: ``gatepass.__all__`` is pinned, sorted and importable."""

from __future__ import annotations

import gatepass

EXPECTED = [
    "AuthMiddleware",
    "AuthenticationError",
    "Authenticator",
    "CSRFError",
    "CookieSettings",
    "Credential",
    "GatepassError",
    "InvalidCredentials",
    "JWTStrategy",
    "KeyRing",
    "Login",
    "PasswordSettings",
    "PermissionDenied",
    "Principal",
    "RefreshTokenReused",
    "SessionExpired",
    "SessionLogin",
    "SessionSettings",
    "SessionStrategy",
    "SigningKey",
    "StoreUnavailable",
    "TokenError",
    "TokenExpired",
    "TokenPair",
    "TokenRevoked",
    "TokenSettings",
    "ValidationError",
    "__version__",
    "load_keyring",
    "open_store",
]


def test_all_is_pinned_and_sorted() -> None:
    """__all__ is exactly the curated list, in sorted order."""
    assert EXPECTED == gatepass.__all__
    assert sorted(gatepass.__all__) == gatepass.__all__


def test_every_exported_name_exists() -> None:
    """Every name in __all__ is an attribute of the package."""
    missing = [name for name in gatepass.__all__ if not hasattr(gatepass, name)]
    assert [] == missing


def test_no_unlisted_public_names() -> None:
    """Public attributes that are not submodules are all listed in __all__."""
    import types

    public = {
        name
        for name, value in vars(gatepass).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set() == public - set(gatepass.__all__)


def test_errors_share_one_root() -> None:
    """Every exported exception derives from GatepassError."""
    for name in gatepass.__all__:
        value = getattr(gatepass, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, gatepass.GatepassError), name
