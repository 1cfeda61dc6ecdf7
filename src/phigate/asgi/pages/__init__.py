"""The pages people see at the authorisation server: sign-in, second factor, enrolment, consent.

Server-rendered (Jinja2, autoescaped), no script, a strict Content Security
Policy, never framed, never cached; every form carries a flow token bound to
a browser cookie (CSRF). Routes: :func:`phigate.asgi.pages.routes.page_routes`.
"""
