"""Web sign-in for the portal, shared by the hub and every node: each service passes its own
:class:`~fivesafes.governance.accounts.Accounts` (people sign in against the service's own
database, ADR 0015).

```python
WebSignIn(service.accounts, frame=lambda: {...}, secure_cookies=...).install(app)
@router.get("/projects")
async def projects(web: SignedIn): ...      # a redirect to /sign-in without a session
@router.post("/projects")
async def create(web: Posting): ...         # and the session's CSRF token
```

Signing in is two steps when the service requires TOTP (``[accounts] require_totp``, the
default): the username and password, then the code. The password is checked once, with the
code, by :meth:`Accounts.login`, so the answer is the same for every failure (an unknown user,
a wrong password or code, a locked account) and lockout counts one attempt per sign-in. Between
the steps the username and password travel in the form, sealed (AES-GCM with the accounts key)
and bound to this browser's sign-in cookie, for at most :data:`PENDING_SECONDS`. When TOTP is
not required, one step asks for the code too, to be left empty by accounts without one.

Every POST checks a CSRF token: before sign-in a random token in a cookie and the form (double
submit); after sign-in the session's token, in the form (``csrf``) or, for htmx, the
``X-CSRF-Token`` header (``base.html`` puts it in ``hx-headers``). Cookies are HttpOnly and
SameSite=Strict, and Secure unless ``[accounts] secure_cookies = false`` (plain http on
loopback only).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from fivesafes.governance.accounts import Accounts, WebSession
from fivesafes.governance.accounts.secret_box import SecretUnreadable
from fivesafes.governance.errors import LoginFailed
from fivesafes.protocol.errors import Unauthenticated
from fivesafes.web.errors import install_page_errors, wants_json
from fivesafes.web.pages import render

SESSION_COOKIE = "fivesafes_session"
SIGNIN_COOKIE = "fivesafes_signin"  # the CSRF token of the sign-in form, before any session
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
PENDING_SECONDS = 300  # the code step must follow the password step within this
MAX_USERNAME = 64
MAX_PASSWORD = 1024
STALE = "The sign-in form was out of date or took too long. Please start again."
SIGN_IN_FIRST = "Sign in to see this page."


class SignInRequired(Exception):
    """Raised by :meth:`WebSignIn.current` when the request has no live session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(SIGN_IN_FIRST)
        self.next_path = next_path


def safe_next(value: str | None, default: str) -> str:
    """Where to go after signing in: a path on this service only (no other host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value[:500]


class WebSignIn:
    """The sign-in pages and the signed-in dependencies of one service's portal.

    ``frame`` gives what every page of the service shows (``service_kind``, ``service_name``,
    ``nav``); ``home`` is where people go after signing in when no page asked for it."""

    def __init__(
        self,
        accounts: Accounts,
        *,
        frame: Callable[[], dict[str, Any]],
        secure_cookies: bool = True,
        home: str = "/",
    ) -> None:
        self.accounts = accounts
        self.frame = frame
        self.secure_cookies = secure_cookies
        self.home = home
        self.router = APIRouter(include_in_schema=False)
        self.router.add_api_route("/sign-in", self.sign_in_page, methods=["GET"])
        self.router.add_api_route("/sign-in", self.sign_in, methods=["POST"])
        self.router.add_api_route("/sign-out", self.sign_out, methods=["POST"])

    def install(self, app: FastAPI) -> None:
        """Add the routes, the sign-in redirect, and error pages for browsers (after the
        app's own JSON error handlers, which API and htmx requests keep getting)."""
        app.state.sign_in = self
        app.include_router(self.router)
        app.add_exception_handler(SignInRequired, self._required)  # type: ignore[arg-type]
        install_page_errors(app, lambda: {**self.frame(), **self.context(None)})

    # ---- dependencies ---------------------------------------------------------------------

    async def optional(self, request: Request) -> WebSession | None:
        """The live session behind the request's cookie, or None (public pages)."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        web: WebSession | None = await asyncio.to_thread(self.accounts.session_user, session_id)
        request.state.web_session = web
        return web

    async def current(self, request: Request) -> WebSession:
        """The signed-in person, or :class:`SignInRequired` (a redirect to the sign-in page
        for a page, 401 JSON for htmx and API requests)."""
        web = await self.optional(request)
        if web is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(path)
        return web

    async def posting(self, request: Request) -> WebSession:
        """:meth:`current`, for a POST: the session's CSRF token must come with it."""
        web = await self.current(request)
        token = request.headers.get(CSRF_HEADER)
        if token is None:
            form = await request.form()
            posted = form.get(CSRF_FIELD)
            token = posted if isinstance(posted, str) else None
        Accounts.check_csrf(web, token)
        return web

    def context(self, web: WebSession | None) -> dict[str, Any]:
        """What ``base.html`` shows of the session: who, and the CSRF token for htmx."""
        return {"web_session": web, "csrf": web.csrf if web else None}

    def _required(self, request: Request, exc: SignInRequired) -> Response:
        target = "/sign-in?next=" + quote(safe_next(exc.next_path, self.home), safe="/")
        if wants_json(request):
            body = Unauthenticated(SIGN_IN_FIRST).body()
            return JSONResponse(body, status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    # ---- pages ----------------------------------------------------------------------------

    async def sign_in_page(self, request: Request, next: str | None = None) -> Response:
        token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
        response = self._page(request, token, step="password", next_path=next)
        self._set_signin_cookie(response, token)
        return response

    async def sign_in(self, request: Request) -> Response:
        form = await request.form()
        field = {k: v for k, v in form.items() if isinstance(v, str)}
        cookie_token = request.cookies.get(SIGNIN_COOKIE, "")
        next_path = field.get("next")
        if not cookie_token or not hmac.compare_digest(
            field.get(CSRF_FIELD, "").encode(), cookie_token.encode()
        ):
            fresh = secrets.token_urlsafe(32)
            response = self._page(request, fresh, next_path=next_path, error=STALE, status=403)
            self._set_signin_cookie(response, fresh)
            return response
        if field.get("step") == "code":
            return await self._code_step(request, cookie_token, field)
        username = field.get("username", "").strip()
        password = field.get("password", "")
        if not username or not password:
            return self._page(
                request,
                cookie_token,
                next_path=next_path,
                username=username,
                error="Enter your username and your password.",
                status=422,
            )
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            return await self._finish(request, cookie_token, username, "", None, next_path)
        if not self.accounts.store.settings.require_totp:
            code = field.get("code", "").strip() or None
            return await self._finish(request, cookie_token, username, password, code, next_path)
        pending = self._seal(cookie_token, username, password)
        return self._page(request, cookie_token, step="code", next_path=next_path, pending=pending)

    async def _code_step(self, request: Request, token: str, field: dict[str, str]) -> Response:
        next_path = field.get("next")
        try:
            username, password = self._open(token, field.get("pending", ""))
        except SecretUnreadable:
            return self._page(request, token, next_path=next_path, error=STALE, status=400)
        code = field.get("code", "").strip()
        if not code:
            return self._page(
                request,
                token,
                step="code",
                next_path=next_path,
                pending=field.get("pending", ""),
                error="Enter the 6-digit code from your authenticator app.",
                status=422,
            )
        return await self._finish(request, token, username, password, code, next_path)

    async def _finish(
        self,
        request: Request,
        token: str,
        username: str,
        password: str,
        code: str | None,
        next_path: str | None,
    ) -> Response:
        try:
            account = await asyncio.to_thread(self.accounts.login, username, password, code)
        except LoginFailed as exc:
            return self._page(
                request,
                token,
                next_path=next_path,
                username=username,
                error=exc.message,
                status=401,
            )
        session_id, _csrf = await asyncio.to_thread(self.accounts.create_session, account)
        response = RedirectResponse(safe_next(next_path, self.home), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
            path="/",
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/sign-in")
        return response

    async def sign_out(self, request: Request) -> Response:
        """End the session (audited by the accounts service) and drop its cookie."""
        web = await self.optional(request)
        if web is not None:
            form = await request.form()
            posted = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
            Accounts.check_csrf(web, posted if isinstance(posted, str) else None)
            session_id = request.cookies[SESSION_COOKIE]
            await asyncio.to_thread(self.accounts.end_session, session_id)
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ---- helpers --------------------------------------------------------------------------

    def _page(
        self,
        request: Request,
        token: str,
        *,
        step: str = "password",
        next_path: str | None = None,
        username: str = "",
        pending: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        response = render(
            request,
            "signin.html",
            status_code=status,
            **{**self.frame(), **self.context(None)},
            title="Sign in",
            signin_csrf=token,
            step=step,
            next_path=safe_next(next_path, self.home),
            username=username,
            pending=pending,
            error=error,
            ask_code_with_password=not self.accounts.store.settings.require_totp,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def _set_signin_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            SIGNIN_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
            path="/sign-in",
            max_age=3600,
        )

    def _seal(self, token: str, username: str, password: str) -> str:
        plain = json.dumps({"u": username, "p": password, "t": int(time.time())})
        return self.accounts.store.box.seal(plain, f"sign-in:{token}")

    def _open(self, token: str, pending: str) -> tuple[str, str]:
        if not pending or len(pending) > 4 * MAX_PASSWORD:
            raise SecretUnreadable("missing")
        try:
            held = json.loads(self.accounts.store.box.open(pending, f"sign-in:{token}"))
            username, password, issued = str(held["u"]), str(held["p"]), int(held["t"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SecretUnreadable("malformed") from exc
        if not 0 <= time.time() - issued <= PENDING_SECONDS:
            raise SecretUnreadable("too old")
        return username, password


# ---- the dependencies pages use (the app's WebSignIn, set by ``install``) -----------------


def _of(request: Request) -> WebSignIn:
    sign_in: WebSignIn = request.app.state.sign_in
    return sign_in


async def signed_in(request: Request) -> WebSession:
    return await _of(request).current(request)


async def posting(request: Request) -> WebSession:
    return await _of(request).posting(request)


async def maybe_signed_in(request: Request) -> WebSession | None:
    return await _of(request).optional(request)


SignedIn = Annotated[WebSession, Depends(signed_in)]
"""A page for signed-in people: a redirect to the sign-in page (401 JSON for htmx) otherwise."""
Posting = Annotated[WebSession, Depends(posting)]
"""A POST from a signed-in person, with the session's CSRF token (403 without)."""
MaybeSignedIn = Annotated[WebSession | None, Depends(maybe_signed_in)]
"""A public page that shows who is signed in, if anyone."""
