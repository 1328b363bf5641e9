"""Sign-up, sign-in, token refresh and sign-out."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..accounts import create_user, normalise_email
from ..errors import Problem, Unauthorized
from ..models import User
from ..platform import Platform
from .deps import get_platform, public
from .schemas import LoginIn, RefreshIn, RegisterIn, RegisterOut, TokenOut, user_dict
from sqlalchemy import select

router = APIRouter(prefix="/auth", tags=["auth"])


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttle(platform: Platform, limit: str, name: str, ident: str, what: str) -> None:
    """Count one attempt atomically (the counter is incremented before anything is checked, so
    N concurrent attempts cannot all pass a test that none of them has counted yet)."""
    state = platform.ratelimiter.hit(limit, name, ident)
    if not state.allowed:
        raise Problem(429, "rate-limited", f"{what} from here; try again later",
                      headers={"Retry-After": str(state.retry_after)}, retry_after=state.retry_after)


def _pair(pair) -> dict:
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token,
            "token_type": pair.token_type, "expires_in": pair.expires_in}


@router.post("/register", response_model=RegisterOut, status_code=201, dependencies=[Depends(public)],
             responses={409: {"description": "email taken"}, 422: {"description": "invalid email or weak password"}})
async def register(body: RegisterIn, request: Request, platform: Platform = Depends(get_platform)):
    """Create a fan or artist account and sign it in. Artists get the default tiers.

    Sign-ups are limited per client address (``MC_REGISTER_IP_LIMIT``, 429 with Retry-After)."""
    await run_in_threadpool(_throttle, platform, platform.settings.register_ip_limit, "register", _ip(request),
                            "too many sign-ups")
    verdict = platform.screen_activity("account.created", None, address=_ip(request), email=body.email)
    if verdict.action in ("limit", "block"):  # abuse screens (sign-up bursts): docs/moderation.md
        retry = int(verdict.data.get("retry_after") or 3600)
        raise Problem(429 if verdict.action == "limit" else 403,
                      "signup-limited" if verdict.action == "limit" else "signup-blocked",
                      verdict.detail or "too many sign-ups from here", retry_after=retry,
                      headers={"Retry-After": str(retry)} if verdict.action == "limit" else None)
    async with platform.password_gate.turn():  # hashing waits on the event loop, not on a thread
        return await run_in_threadpool(_register, platform, body)


def _register(platform: Platform, body: RegisterIn) -> dict:
    with platform.session() as s:
        user = create_user(platform, s, email=body.email, password=body.password, display_name=body.display_name,
                           role=body.role, artist_name=body.artist_name)
        pair = platform.tokens.issue_pair(s, user)
        out = {"user": user_dict(user), "tokens": _pair(pair)}
    return out


@router.post("/login", response_model=TokenOut, dependencies=[Depends(public)],
             responses={401: {"description": "wrong email or password"}, 429: {"description": "too many failures"}})
async def login(body: LoginIn, request: Request, platform: Platform = Depends(get_platform)):
    """Exchange email and password for an access token and a refresh token.

    Attempts are throttled per account and client address, per client address, and per account
    over all addresses (429 with Retry-After); a stranger's guesses from elsewhere do not lock
    the owner's own address out until the account-wide limit.
    """
    email = normalise_email(body.email)
    await run_in_threadpool(_login_limits, platform, email, _ip(request))
    async with platform.password_gate.turn():  # hashing waits on the event loop, not on a thread
        pair = await run_in_threadpool(_verify, platform, email, body.password, _ip(request))
    return _pair(pair)


def _login_limits(platform: Platform, email: str, ip: str) -> None:
    # Every attempt is counted *before* the password is checked (an atomic increment), so
    # concurrent guesses cannot all slip under the limit; a successful sign-in gives its
    # attempt back. Attempts past a limit answer 429 without hashing anything.
    rl, st = platform.ratelimiter, platform.settings
    for limit, ident in ((st.login_failures_limit, f"{email}|{ip}"), (st.login_ip_failures_limit, ip),
                         (st.login_account_limit, email)):
        state = rl.hit(limit, "login-fail", ident)
        if not state.allowed:
            raise Problem(429, "login-throttled", "too many failed sign-ins; try again later",
                          headers={"Retry-After": str(state.retry_after)}, retry_after=state.retry_after)


def _verify(platform: Platform, email: str, password: str, ip: str):
    with platform.session() as s:
        user = s.scalar(select(User).where(User.email == email))
        ok = platform.passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            raise Unauthorized("wrong email or password")
        if platform.passwords.needs_rehash(user.password_hash):
            user.password_hash = platform.passwords.hash(password)
        platform.emit(s, "user.logged_in", actor_id=user.id, subject=("user", user.id))
        pair = platform.tokens.issue_pair(s, user)
    platform.ratelimiter.clear(platform.settings.login_failures_limit, "login-fail", f"{email}|{ip}")
    return pair


@router.post("/refresh", response_model=TokenOut, dependencies=[Depends(public)], responses={401: {"description": "invalid, expired or reused"}})
def refresh(body: RefreshIn, request: Request, platform: Platform = Depends(get_platform)):
    """Spend a refresh token for a new pair. Using a spent refresh token again signs out its whole family
    (also when two requests race with the same token: exactly one wins)."""
    _throttle(platform, platform.settings.refresh_ip_limit, "refresh", _ip(request), "too many token refreshes")
    try:
        with platform.session() as s:
            _, pair = platform.tokens.rotate(s, body.refresh_token)
    except Problem as exc:
        if exc.slug == "refresh-token-reused":  # the revocation must be kept although we answer 401
            with platform.session() as s:
                platform.tokens.revoke(s, body.refresh_token)
        raise
    return _pair(pair)


@router.post("/logout", status_code=204, dependencies=[Depends(public)])
def logout(body: RefreshIn, platform: Platform = Depends(get_platform)):
    """Sign out this session (its refresh token family). Access tokens expire on their own."""
    with platform.session() as s:
        platform.tokens.revoke(s, body.refresh_token)
    return Response(status_code=204)
