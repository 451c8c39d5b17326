"""A short, human name for a login's device from its User-Agent (the account pages).

Only a label for people: never used for a security decision, and the full string
stays available next to it. Unknown agents (curl, SDKs) are named by their product
token, e.g. ``curl 8.5``.
"""

from __future__ import annotations

import re

__all__ = ["describe_device"]

#: (pattern, name) in priority order: Edge and Opera also say Chrome, Chrome also says Safari.
_BROWSERS = (
    (re.compile(r"Edg(?:e|A|iOS)?/(\d+)"), "Edge"),
    (re.compile(r"OPR/(\d+)"), "Opera"),
    (re.compile(r"Firefox/(\d+)"), "Firefox"),
    (re.compile(r"FxiOS/(\d+)"), "Firefox"),
    (re.compile(r"HeadlessChrome/(\d+)"), "Headless Chrome"),
    (re.compile(r"CriOS/(\d+)"), "Chrome"),
    (re.compile(r"Chrom(?:e|ium)/(\d+)"), "Chrome"),
    (re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/"), "Safari"),
)
_SYSTEMS = (
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"Linux"), "Linux"),
)
_PRODUCT = re.compile(r"([A-Za-z][\w.\-]{0,40})(?:/(\d+(?:\.\d+)?))?")


def describe_device(user_agent: str | None) -> str:
    """``"Chrome 156 on Linux"``, ``"Safari 17 on iOS"``, ``"curl 8.5"`` or ``"Unknown device"``."""
    if not user_agent or not user_agent.strip():
        return "Unknown device"
    browser = next(
        (
            f"{name} {m.group(1)}"
            for pattern, name in _BROWSERS
            if (m := pattern.search(user_agent))
        ),
        None,
    )
    system = next((name for pattern, name in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    product = _PRODUCT.match(user_agent.strip())
    if product is None:
        return "Unknown device"
    name, version = product.groups()
    return f"{name} {version}" if version else name
