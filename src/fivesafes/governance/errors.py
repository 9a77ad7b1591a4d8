"""The typed errors of permissions and policies, in the platform's one exception tree.

Each maps to a stable code and status at the hub's one error boundary. Outsiders to a
resource get :class:`~fivesafes.protocol.errors.NotFoundOrNoPermission`, never one of these.
"""

from __future__ import annotations

from fivesafes.protocol.errors import Forbidden, Unauthenticated


class NotPermitted(Forbidden):
    """The caller can see the resource but their roles do not allow this action."""

    code = "forbidden"


class AccreditationExpired(Forbidden):
    """The person's safe-researcher accreditation has expired or was never recorded."""

    code = "accreditation_expired"


class InsufficientScope(Forbidden):
    """The API token does not carry the action asked for."""

    code = "insufficient_scope"


class ProjectNotActive(Forbidden):
    """The project has not started yet or has ended."""

    code = "project_not_active"


class LoginFailed(Unauthenticated):
    """One answer for an unknown user, a wrong password or code, and a locked account."""

    code = "login_failed"


class CsrfFailed(Forbidden):
    """A form was posted without the session's CSRF token."""

    code = "csrf_failed"
