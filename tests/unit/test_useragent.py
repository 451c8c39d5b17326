"""describe_device: a short device label for the account pages."""

from __future__ import annotations

import pytest

from gatepass.server.useragent import describe_device

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.56"
)
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (CHROME_LINUX, "Chrome 156 on Linux"),
        (SAFARI_IPHONE, "Safari 17 on iOS"),
        (EDGE_WINDOWS, "Edge 130 on Windows"),
        (FIREFOX_MAC, "Firefox 128 on macOS"),
        (HEADLESS, "Headless Chrome 156 on Linux"),
        ("Mozilla/5.0 (Linux; Android 14)", "A browser on Android"),
        ("curl/8.5.0", "curl 8.5"),
        ("phone-app/1.0", "phone-app 1.0"),
        ("python-httpx", "python-httpx"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("   ", "Unknown device"),
        ("!!!", "Unknown device"),
    ],
)
def test_describe_device(agent: str | None, label: str) -> None:
    assert label == describe_device(agent)
