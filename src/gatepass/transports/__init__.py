"""Where credentials travel: the Bearer header, cookies, and the CSRF check.

Framework-free: these modules see plain header and cookie mappings, never a web
framework's request, and carry opaque credential strings; they never import
``gatepass.tokens`` or ``gatepass.sessions``.
"""

from gatepass.transports.base import CookieMap as CookieMap
from gatepass.transports.base import Credential as Credential
from gatepass.transports.base import CredentialKind as CredentialKind
from gatepass.transports.base import HeaderMap as HeaderMap
from gatepass.transports.bearer import BearerError as BearerError
from gatepass.transports.bearer import challenge as challenge
from gatepass.transports.bearer import parse_authorization as parse_authorization
from gatepass.transports.cookie import MAX_COOKIE_BYTES as MAX_COOKIE_BYTES
from gatepass.transports.cookie import CookieTransport as CookieTransport
from gatepass.transports.cookie import clear_cookie as clear_cookie
from gatepass.transports.cookie import parse_cookie_header as parse_cookie_header
from gatepass.transports.cookie import set_cookie as set_cookie
from gatepass.transports.csrf import CSRF_HEADER as CSRF_HEADER
from gatepass.transports.csrf import SAFE_METHODS as SAFE_METHODS
from gatepass.transports.csrf import CSRFPolicy as CSRFPolicy
from gatepass.transports.csrf import make_csrf_token as make_csrf_token
from gatepass.transports.csrf import new_csrf_secret as new_csrf_secret
from gatepass.transports.csrf import origin_of as origin_of
from gatepass.transports.csrf import verify_csrf_token as verify_csrf_token

__all__ = [
    "CSRF_HEADER",
    "MAX_COOKIE_BYTES",
    "SAFE_METHODS",
    "BearerError",
    "CSRFPolicy",
    "CookieMap",
    "CookieTransport",
    "Credential",
    "CredentialKind",
    "HeaderMap",
    "challenge",
    "clear_cookie",
    "make_csrf_token",
    "new_csrf_secret",
    "origin_of",
    "parse_authorization",
    "parse_cookie_header",
    "set_cookie",
    "verify_csrf_token",
]
