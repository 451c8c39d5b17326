"""gatepass: JWT and session authentication behind one API.

The curated public API. Everything else lives in subpackages (``gatepass.tokens``,
``gatepass.sessions``, ``gatepass.stores``, ``gatepass.transports``, ``gatepass.asgi``,
``gatepass.integrations``) or behind a leading underscore.
"""

from gatepass.asgi.middleware import AuthMiddleware as AuthMiddleware
from gatepass.authenticator import Authenticator as Authenticator
from gatepass.authenticator import Login as Login
from gatepass.authenticator import SessionLogin as SessionLogin
from gatepass.authenticator import TokenPair as TokenPair
from gatepass.config import CookieSettings as CookieSettings
from gatepass.config import PasswordSettings as PasswordSettings
from gatepass.config import SessionSettings as SessionSettings
from gatepass.config import TokenSettings as TokenSettings
from gatepass.errors import AuthenticationError as AuthenticationError
from gatepass.errors import CSRFError as CSRFError
from gatepass.errors import GatepassError as GatepassError
from gatepass.errors import InvalidCredentials as InvalidCredentials
from gatepass.errors import PermissionDenied as PermissionDenied
from gatepass.errors import RefreshTokenReused as RefreshTokenReused
from gatepass.errors import SessionExpired as SessionExpired
from gatepass.errors import StoreUnavailable as StoreUnavailable
from gatepass.errors import TokenError as TokenError
from gatepass.errors import TokenExpired as TokenExpired
from gatepass.errors import TokenRevoked as TokenRevoked
from gatepass.errors import ValidationError as ValidationError
from gatepass.keys.key import SigningKey as SigningKey
from gatepass.keys.keyring import KeyRing as KeyRing
from gatepass.keys.persisted import load_keyring as load_keyring
from gatepass.principal import Principal as Principal
from gatepass.sessions.strategy import SessionStrategy as SessionStrategy
from gatepass.stores import open_store as open_store
from gatepass.tokens.strategy import JWTStrategy as JWTStrategy
from gatepass.transports.base import Credential as Credential

__version__ = "0.1.0"

__all__ = [
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
