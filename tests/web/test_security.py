"""Who may use the web UI: loopback-only without auth, sign-in sessions, roles, CSRF, headers and redirects."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
import pytest
from web_kit import LOCAL_BASE, REMOTE_PEER, TOKEN, csrf_from, sign_in, web_client

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.web.security import (
    BROWSER_COOKIE,
    CONTENT_SECURITY_POLICY,
    SECRET_FILE,
    SESSION_COOKIE,
    Signer,
    load_secret,
    safe_next,
)

JWT_SECRET = "web-jwt-secret-0123456789abcdef0123456789"


def jwt_for(role: str | None, *, expires_in: int = 600) -> str:
    """Return an HS256 JWT with the given role claim (none when ``role`` is None)."""
    claims: dict[str, object] = {"sub": f"user-{role}", "exp": int(time.time()) + expires_in}
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def set_cookies(response) -> list[str]:
    """Return the raw Set-Cookie header values of a response."""
    return response.headers.get_list("set-cookie")


# ---------------------------------------------------------------------------
# No authentication configured: this machine only


async def test_without_auth_a_loopback_browser_reads_pages(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get("/mail/projects")
    assert page.status_code == 200
    assert web_mailbox.slug in page.text


@pytest.mark.parametrize(
    ("peer", "host", "headers", "says"),
    [
        (REMOTE_PEER, "127.0.0.1:8765", {}, "only answers this machine"),
        (("127.0.0.1", 40001), "mail.example.com", {}, "only answers this machine"),
        (("127.0.0.1", 40001), "127.0.0.1:8765", {"X-Forwarded-For": "198.51.100.4"}, "only answers this machine"),
    ],
    ids=["remote-peer", "foreign-host", "proxied"],
)
async def test_without_auth_anything_but_a_direct_local_request_gets_a_403_page(
    local_app, web_mailbox, peer, host, headers, says
):
    async with web_client(local_app, peer=peer, headers={"Host": host, **headers}) as client:
        page = await client.get("/mail/")
        post = await client.post(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert says in page.text
    assert post.status_code == 403
    assert web_mailbox.unread("RedFox") == 3


# ---------------------------------------------------------------------------
# Headers


async def test_every_response_carries_the_security_headers(local_app, web_mailbox):
    async with web_client(local_app) as client:
        responses = {
            "page": await client.get("/mail/"),
            "404": await client.get("/mail/projects/no-such-project"),
            "static": await client.get("/mail/static/app.css"),
            "feed": await client.get("/mail/api/inbox?after=0"),
        }
    async with web_client(local_app, peer=REMOTE_PEER) as client:
        responses["refused"] = await client.get("/mail/")
    for name, response in responses.items():
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["referrer-policy"] == "same-origin", name
    for name in ("page", "404", "feed", "refused"):
        assert responses[name].headers["cache-control"] == "no-store", name
    assert responses["static"].status_code == 200
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY


async def test_pages_carry_no_inline_script_or_style(local_app, web_mailbox):
    message_id = web_mailbox.ids["Plan for the parser"]
    paths = [
        "/mail/",
        "/mail/projects",
        f"/mail/projects/{web_mailbox.slug}",
        f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox",
        f"/mail/projects/{web_mailbox.slug}/messages/{message_id}",
        f"/mail/projects/{web_mailbox.slug}/threads/{message_id}",
        "/mail/signin",
        "/mail/nowhere",
    ]
    async with web_client(local_app) as client:
        for path in paths:
            html = (await client.get(path)).text
            assert "<style" not in html and " style=" not in html, path
            assert "<script>" not in html and " on" + "click=" not in html, path
            assert '<script src="/mail/static/app.js" defer></script>' in html, path
            assert "https://" not in html.split("<main", 1)[0], path  # no CDN in the page head


# ---------------------------------------------------------------------------
# Signing in with the bearer token


async def test_with_a_token_an_anonymous_get_is_sent_to_sign_in_and_a_post_is_refused(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}?page=2")
        post = await client.post(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read")
        form = await client.get(page.headers["location"])
    assert page.status_code == 303
    assert page.headers["location"] == f"/mail/signin?next=/mail/projects/{web_mailbox.slug}%3Fpage%3D2"
    assert post.status_code == 401
    assert "Sign in" in post.text
    assert form.status_code == 200
    assert 'name="token"' in form.text and 'type="password"' in form.text
    assert f'value="/mail/projects/{web_mailbox.slug}?page=2"' in form.text
    assert web_mailbox.unread("RedFox") == 3


async def test_signing_in_sets_a_strict_http_only_cookie_and_opens_the_pages(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        answer = await sign_in(client)
        page = await client.get("/mail/")
    assert answer.status_code == 303 and answer.headers["location"] == "/mail/"
    cookie = next(value for value in set_cookies(answer) if value.startswith(f"{SESSION_COOKIE}="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/mail" in flags
    assert "secure" not in flags  # plain http on loopback
    assert any(flag.startswith("max-age=") and 43000 < int(flag.split("=")[1]) <= 43200 for flag in flags)
    assert page.status_code == 200
    assert "Release blocker" in page.text
    assert "Sign out" in page.text


async def test_over_https_the_session_cookie_is_secure(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app, base_url="https://127.0.0.1:8765") as client:
        answer = await sign_in(client)
    cookie = next(value for value in set_cookies(answer) if value.startswith(f"{SESSION_COOKIE}="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_a_wrong_token_is_refused_with_the_form_and_no_session(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        answer = await sign_in(client, "not-the-token")
        page = await client.get("/mail/")
    assert answer.status_code == 401
    assert "not accepted" in answer.text
    assert not any(value.startswith(f"{SESSION_COOKIE}=") for value in set_cookies(answer))
    assert page.status_code == 303


async def test_sign_in_without_its_csrf_token_is_refused(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        await client.get("/mail/signin")
        answer = await client.post("/mail/signin", data={"token": TOKEN})
    assert answer.status_code == 403
    assert not any(value.startswith(f"{SESSION_COOKIE}=") for value in set_cookies(answer))


async def test_the_bearer_header_works_for_scripts_without_a_session(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app, token=TOKEN) as client:
        page = await client.get("/mail/api/inbox?after=0")
        marked = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read", follow_redirects=True
        )
    async with web_client(app, token="wrong") as client:
        refused = await client.get("/mail/")
    assert page.status_code == 200 and len(page.json()["messages"]) == 5
    assert marked.status_code == 200 and "Marked 3 messages as read" in marked.text
    assert refused.status_code == 401


async def test_a_tampered_or_expired_session_cookie_is_refused(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    signer = Signer(load_secret(get_settings()))
    expired = signer.dumps({"sid": "s1", "sub": "bearer", "roles": ["reader", "writer"], "exp": int(time.time()) - 5})
    good = signer.dumps({"sid": "s2", "sub": "bearer", "roles": ["reader"], "exp": int(time.time()) + 600})
    body, mac = good.split(".")
    forged_roles = Signer(b"some other secret of enough length!!").dumps(
        {"sid": "s3", "sub": "bearer", "roles": ["writer"], "exp": int(time.time()) + 600}
    )
    for cookie in (expired, f"{body}x.{mac}", f"{body}.{mac[:-2]}AA", forged_roles, "garbage"):
        async with web_client(app, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}) as client:
            page = await client.get("/mail/")
            post = await client.post(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read")
        assert page.status_code == 303, cookie
        assert post.status_code == 401, cookie
    async with web_client(app, headers={"Cookie": f"{SESSION_COOKIE}={good}"}) as client:
        assert (await client.get("/mail/")).status_code == 200
    assert web_mailbox.unread("RedFox") == 3


async def test_signing_out_clears_the_session(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        await sign_in(client)
        page = await client.get("/mail/projects")
        out = await client.post("/mail/signout", data={"csrf_token": csrf_from(page.text)})
        after = await client.get("/mail/projects")
    assert out.status_code == 303 and out.headers["location"] == "/mail/signin"
    cleared = next(value for value in set_cookies(out) if value.startswith(f"{SESSION_COOKIE}="))
    assert "max-age=0" in cleared.lower()
    assert after.status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/mail/",
        "//evil.example/mail/",
        "/\\evil.example",
        "/elsewhere",
        "/mail/../admin",
        "javascript:alert(1)",
        "/mailbox",
        "/mail/%2e%2e/admin",
    ],
)
async def test_sign_in_never_redirects_off_the_ui(make_web_app, web_mailbox, target):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        form = await client.get("/mail/signin", params={"next": target})
        answer = await client.post(
            "/mail/signin", data={"token": TOKEN, "csrf_token": csrf_from(form.text), "next": target}
        )
    assert 'name="next" value="/mail/"' in form.text
    assert answer.headers["location"] == "/mail/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/mail/projects/x?page=2", "/mail/projects/x?page=2"),
        ("/mail", "/mail"),
        ("/mail/", "/mail/"),
        ("", "/mail/"),
        (None, "/mail/"),
        ("http://127.0.0.1:8765/mail/", "/mail/"),
        ("/mail/\r\nSet-Cookie: x=1", "/mail/"),
        ("///evil.example", "/mail/"),
    ],
)
def test_safe_next_keeps_only_local_ui_paths(value, expected):
    assert safe_next(value) == expected


# ---------------------------------------------------------------------------
# Roles


async def test_a_reader_reads_but_cannot_mark_mail_read(make_web_app, web_mailbox):
    app = make_web_app(HTTP_JWT_ENABLED="true", HTTP_JWT_SECRET=JWT_SECRET)
    before = web_mailbox.receipts()
    async with web_client(app) as client:
        await sign_in(client, jwt_for("reader"))
        inbox = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox")
        token = csrf_from(inbox.text)
        refused = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read", data={"csrf_token": token}
        )
    assert inbox.status_code == 200
    assert "Plan for the parser" in inbox.text
    assert "Mark all" not in inbox.text and "Mark selected read" not in inbox.text
    assert "(read only)" in inbox.text
    assert refused.status_code == 403
    assert "writer role" in refused.text
    assert web_mailbox.receipts() == before


async def test_a_writer_jwt_session_may_mark_mail_read(make_web_app, web_mailbox):
    app = make_web_app(HTTP_JWT_ENABLED="true", HTTP_JWT_SECRET=JWT_SECRET)
    async with web_client(app) as client:
        await sign_in(client, jwt_for("writer"))
        inbox = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox")
        done = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read",
            data={"csrf_token": csrf_from(inbox.text)},
            follow_redirects=True,
        )
    assert "Marked 3 messages as read" in done.text
    assert web_mailbox.unread("RedFox") == 0


async def test_a_token_without_a_known_role_is_refused(make_web_app, web_mailbox):
    app = make_web_app(HTTP_JWT_ENABLED="true", HTTP_JWT_SECRET=JWT_SECRET, HTTP_RBAC_DEFAULT_ROLE="nobody")
    async with web_client(app) as client:
        await sign_in(client, jwt_for(None))
        page = await client.get("/mail/")
    assert page.status_code == 403
    assert "neither reader nor writer" in page.text


async def test_the_session_ends_when_the_jwt_does(make_web_app, web_mailbox):
    app = make_web_app(HTTP_JWT_ENABLED="true", HTTP_JWT_SECRET=JWT_SECRET)
    async with web_client(app) as client:
        answer = await sign_in(client, jwt_for("reader", expires_in=120))
    cookie = next(value for value in set_cookies(answer) if value.startswith(f"{SESSION_COOKIE}="))
    max_age = next(int(part.split("=")[1]) for part in cookie.split("; ") if part.lower().startswith("max-age="))
    assert 100 <= max_age <= 120


# ---------------------------------------------------------------------------
# CSRF


async def _inbox_token(client, slug: str) -> str:
    return csrf_from((await client.get(f"/mail/projects/{slug}/agents/RedFox/inbox")).text)


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
async def test_a_post_without_the_right_csrf_token_changes_nothing(local_app, web_mailbox, token):
    before = web_mailbox.receipts()
    message_id = web_mailbox.ids["Plan for the parser"]
    data: dict[str, object] = {"message_ids": [str(message_id)]}
    if token is not None:
        data["csrf_token"] = token
    async with web_client(local_app) as client:
        await client.get("/mail/")  # the browser cookie the token binds to
        read = await client.post(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-read", data=data)
        all_read = await client.post(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read", data=data)
    for answer in (read, all_read):
        assert answer.status_code == 403
        assert "security token" in answer.text
    assert web_mailbox.receipts() == before


async def test_a_csrf_token_is_bound_to_its_browser(local_app, web_mailbox):
    before = web_mailbox.receipts()
    async with web_client(local_app) as first:
        token = await _inbox_token(first, web_mailbox.slug)
    async with web_client(local_app) as second:
        await second.get("/mail/")
        answer = await second.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read", data={"csrf_token": token}
        )
    assert answer.status_code == 403
    assert web_mailbox.receipts() == before


async def test_the_browser_cookie_is_http_only_and_strict(local_app, web_mailbox):
    async with web_client(local_app) as client:
        answer = await client.get("/mail/")
        again = await client.get("/mail/projects")
    cookie = next(value for value in set_cookies(answer) if value.startswith(f"{BROWSER_COOKIE}="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/mail" in flags
    assert not any(value.startswith(f"{BROWSER_COOKIE}=") for value in set_cookies(again))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ],
    ids=["cross-site", "same-site", "foreign-origin", "null-origin"],
)
async def test_a_post_from_another_site_is_refused_even_with_a_token(local_app, web_mailbox, headers):
    before = web_mailbox.receipts()
    async with web_client(local_app) as client:
        token = await _inbox_token(client, web_mailbox.slug)
        answer = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read",
            data={"csrf_token": token},
            headers=headers,
        )
    assert answer.status_code == 403
    assert web_mailbox.receipts() == before


async def test_a_same_origin_post_with_its_token_goes_through(local_app, web_mailbox):
    async with web_client(local_app) as client:
        token = await _inbox_token(client, web_mailbox.slug)
        answer = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read",
            data={"csrf_token": token},
            headers={"Origin": LOCAL_BASE, "Sec-Fetch-Site": "same-origin"},
        )
    assert answer.status_code == 303
    assert web_mailbox.unread("RedFox") == 0


# ---------------------------------------------------------------------------
# The signing secret


def test_the_secret_is_made_once_with_owner_only_permissions(isolated_env):
    settings = get_settings()
    first = load_secret(settings)
    path = Path(settings.data_dir) / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret(settings) == first and len(first) >= 32


async def test_a_configured_secret_lets_another_worker_accept_the_session(make_web_app, web_mailbox):
    secret = "a-shared-web-secret-of-enough-length-0123"
    first = make_web_app(HTTP_BEARER_TOKEN=TOKEN, HTTP_WEB_SESSION_SECRET=secret)
    async with web_client(first) as client:
        answer = await sign_in(client)
    cookie = next(value for value in set_cookies(answer) if value.startswith(f"{SESSION_COOKIE}="))
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    second = make_web_app(HTTP_BEARER_TOKEN=TOKEN, HTTP_WEB_SESSION_SECRET=secret)
    other = make_web_app(HTTP_BEARER_TOKEN=TOKEN, HTTP_WEB_SESSION_SECRET=secret + "-changed")
    async with web_client(second, headers={"Cookie": f"{SESSION_COOKIE}={value}"}) as client:
        assert (await client.get("/mail/")).status_code == 200
    async with web_client(other, headers={"Cookie": f"{SESSION_COOKIE}={value}"}) as client:
        assert (await client.get("/mail/")).status_code == 303


def test_a_short_configured_secret_is_refused(make_web_app):
    with pytest.raises(ConfigurationError):
        make_web_app(HTTP_BEARER_TOKEN=TOKEN, HTTP_WEB_SESSION_SECRET="short")


async def test_a_post_from_an_allowed_origin_behind_a_proxy_goes_through(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN, HTTP_ALLOWED_ORIGINS="https://mail.example.com")
    async with web_client(app, peer=REMOTE_PEER, headers={"Host": "10.0.0.5:8765"}) as client:
        await sign_in(client)
        token = await _inbox_token(client, web_mailbox.slug)
        answer = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read",
            data={"csrf_token": token},
            headers={"Origin": "https://mail.example.com", "Sec-Fetch-Site": "same-origin"},
        )
    assert answer.status_code == 303
    assert web_mailbox.unread("RedFox") == 0


async def test_after_five_wrong_tokens_even_the_right_one_must_wait(make_web_app, web_mailbox):
    app = make_web_app(HTTP_BEARER_TOKEN=TOKEN)
    async with web_client(app) as client:
        for _ in range(5):
            assert (await sign_in(client, "a-guess")).status_code == 401
        braked = await sign_in(client)
    assert braked.status_code == 429
    assert "Too many failed sign-ins" in braked.text
    assert not any(value.startswith(f"{SESSION_COOKIE}=") for value in set_cookies(braked))
