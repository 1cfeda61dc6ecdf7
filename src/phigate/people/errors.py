"""Errors of the people domain (the lead may move them into :mod:`phigate.errors`)."""

from __future__ import annotations

from phigate.errors import RequestError


class UserError(RequestError):
    """A user record or command is not acceptable; ``field`` names what to fix."""

    message = "The user is not valid."

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class UnknownUser(RequestError):
    status = 404
    code = "not-found"
    message = "No such user."


class UnknownBreakGlass(RequestError):
    status = 404
    code = "not-found"
    message = "No open emergency access record with that id."
