"""Rendering a page: the template, the security headers, the cookies.

``Content-Security-Policy`` allows only this origin's stylesheet and images
inlined as ``data:`` (the QR code), and scripts of this origin only on the
pages that offer a security key (``webauthn.js``); forms post to this origin
only, plus the app's redirect origin on the consent page (browsers apply
``form-action`` to the redirect that follows the post). ``frame-ancestors 'none'`` and
``X-Frame-Options: DENY`` stop clickjacking (RFC 9700 4.16).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

SESSION_COOKIE = "__Host-phigate-session"
BROWSER_COOKIE = "__Host-phigate-browser"
_HERE = Path(__file__).parent
_TEMPLATES = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)
STYLESHEET = (_HERE / "static" / "pages.css").read_bytes()


def csp(form_origin: str | None = None, scripts: bool = False) -> str:
    extra = f" {form_origin}" if form_origin else ""
    script = "script-src 'self'; " if scripts else ""  # the security-key pages' webauthn.js only
    return (
        f"default-src 'none'; {script}style-src 'self'; img-src 'self' data:; "
        f"form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def headers(form_origin: str | None = None, scripts: bool = False) -> dict[str, str]:
    return {
        "content-security-policy": csp(form_origin, scripts),
        "x-frame-options": "DENY",
        "cache-control": "no-store",
        "pragma": "no-cache",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "cross-origin-opener-policy": "same-origin",
    }


def page(
    template: str, status: int = 200, form_origin: str | None = None, scripts: bool = False, **values: Any
) -> HTMLResponse:
    """``scripts``: the page loads this origin's script files (security keys); none inline, ever."""
    body = _TEMPLATES.get_template(template).render({"message": None, **values})
    return HTMLResponse(body, status_code=status, headers=headers(form_origin, scripts))


def see_other(location: str, form_origin: str | None = None) -> Response:
    """303 after a form post (RFC 9700 4.12: never 307, which would resend the credentials)."""
    return RedirectResponse(location, status_code=303, headers=headers(form_origin))


def set_cookie(
    response: Response, name: str, value: str, *, max_age: int | None, same_site: Literal["lax", "strict"]
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite=same_site
    )
