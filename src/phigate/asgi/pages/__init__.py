"""The pages people see at the authorisation server: sign-in, second factor, patient picker, consent.

Server-rendered (Jinja2, autoescaped), a strict Content Security Policy (script
only on the security-key pages, and only this origin's static file), never
framed, never cached; every form carries a flow token bound to a browser
cookie (CSRF). Routes: :meth:`phigate.asgi.pages.routes.PeoplePages.routes`.
"""
