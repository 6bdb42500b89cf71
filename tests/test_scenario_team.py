"""A team across two projects, through the MCP client: contacts, a thread with an attachment, a retirement,
a stale lease taken over, and a thread summary that lists what was decided and who must do what."""

from __future__ import annotations

import io
import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from PIL import Image
from sqlalchemy import text

from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import get_session, run_write
from mcp_agent_mail.db.types import to_db_text
from mcp_agent_mail.timeutil import utcnow

LONG_AGO = time.time() - 3 * 86400
DECISION = "Decision: we ship the new header with avatars on Friday."
REQUEST = "@GreenCastle please switch `src/header.tsx` to avatar_url."
CHECKBOX = "@RedFox deploy API v2 to staging"


def mockup_png() -> bytes:
    """A small real PNG: a 6x4 gradient."""
    image = Image.new("RGB", (6, 4))
    image.putdata([(40 * x, 60 * y, 128) for y in range(4) for x in range(6)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def git(repo: Path, *args: str) -> None:
    stamp = f"@{int(LONG_AGO)} +0000"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def workspaces(isolated_env) -> tuple[Path, Path]:
    """Two real project folders; the frontend is a Git repository whose files were last touched days ago."""
    frontend, backend = isolated_env["tmp_path"] / "frontend", isolated_env["tmp_path"] / "backend"
    (frontend / "src").mkdir(parents=True)
    (frontend / "docs").mkdir()
    backend.mkdir()
    (frontend / "src" / "header.tsx").write_text("export const Header = () => null;\n")
    git(frontend, "init", "-q")
    git(frontend, "add", "src/header.tsx")
    git(frontend, "commit", "-q", "-m", "header")
    os.utime(frontend / "src" / "header.tsx", (LONG_AGO, LONG_AGO))
    (frontend / "docs" / "mockup.png").write_bytes(mockup_png())
    return frontend, backend


async def count_messages() -> int:
    async with get_session() as session:
        return int((await session.execute(text("SELECT count(*) FROM messages"))).scalar_one())


async def test_two_projects_one_thread_retirement_takeover_and_summary(workspaces):
    frontend, backend = workspaces
    fe, be = str(frontend), str(backend)
    async with Client(build_mcp_server()) as c:

        async def call(tool: str, **args: Any) -> Any:
            result = await c.call_tool(tool, args)
            content = result.structured_content
            if isinstance(content, dict) and set(content) == {"result"}:
                return content["result"]
            return result.data

        fe_slug = (await call("ensure_project", human_key=fe))["slug"]
        be_slug = (await call("ensure_project", human_key=be))["slug"]
        tokens = {}
        for project, name in ((fe, "BlueLake"), (fe, "GreenCastle"), (be, "RedFox")):
            tokens[name] = (
                await call("register_agent", project_key=project, program="claude-code", model="opus", name=name)
            )["registration_token"]

        # GreenCastle takes the header file first; it will then go quiet.
        lease = (
            await call(
                "file_reservation_paths",
                project_key=fe,
                agent_name="GreenCastle",
                paths=["src/header.tsx"],
                reason="header rework",
            )
        )["granted"][0]

        # Another project is closed until its agent agrees.
        with pytest.raises(ToolError, match=r"^CONTACT_REQUIRED: .*RedFox") as denied:
            await call(
                "send_message",
                project_key=fe,
                sender_name="BlueLake",
                to=[f"RedFox@{be_slug}"],
                subject="Header API",
                body_md="hello",
            )
        assert "request_contact" in str(denied.value)
        asked = await call(
            "request_contact",
            project_key=fe,
            from_agent="BlueLake",
            to_agent="RedFox",
            to_project=be_slug,
            reason="Header needs avatar URLs",
        )
        assert asked["status"] == "pending" and asked["to_project"] == be
        intro = (await call("fetch_inbox", project_key=be, agent_name="RedFox", include_bodies=True))[0]
        assert intro["subject"] == "Contact request from BlueLake" and intro["from"] == f"BlueLake@{fe_slug}"
        assert "Header needs avatar URLs" in intro["body_md"] and "respond_contact" in intro["body_md"]
        approved = await call(
            "respond_contact", project_key=be, to_agent="RedFox", from_agent=f"BlueLake@{fe_slug}", accept=True
        )
        assert approved["status"] == "approved" and approved["approved"] is True
        # RedFox opens the way back in one call, proving it may approve for BlueLake with BlueLake's token.
        handshake = await call(
            "macro_contact_handshake",
            project_key=be,
            requester="RedFox",
            target="BlueLake",
            to_project=fe_slug,
            reason="replies",
            auto_accept=True,
            target_registration_token=tokens["BlueLake"],
        )
        assert handshake["response"]["status"] == "approved"
        contacts = await call("list_contacts", project_key=fe, agent_name="BlueLake")
        assert {
            (e["direction"], e.get("to") or e.get("from"), e["status"], e["allows_messaging"]) for e in contacts
        } == {("outgoing", "RedFox", "approved", True), ("incoming", "RedFox", "approved", True)}

        # The thread: a mockup attached from the project folder, a reply from the other project, a decision.
        opening = await call(
            "send_message",
            project_key=fe,
            sender_name="BlueLake",
            to=[f"RedFox@{be_slug}"],
            cc=["GreenCastle"],
            subject="Header with avatars",
            thread_id="UI-42",
            body_md="Mockup attached. Please confirm the API shape.",
            attachment_paths=["docs/mockup.png"],
            convert_images=False,
        )
        first = opening["deliveries"][0]["payload"]
        attached = first["attachments"][0]
        assert (attached["type"], attached["name"], attached["media_type"]) == ("file", "mockup.png", "image/png")
        assert attached["bytes"] == len(mockup_png())
        inbox = await call("fetch_inbox", project_key=be, agent_name="RedFox", include_bodies=True)
        assert inbox[0]["id"] == first["id"] and inbox[0]["thread_id"] == "UI-42"
        reply = await call(
            "reply_message",
            project_key=be,
            message_id=first["id"],
            sender_name="RedFox",
            body_md="Confirmed: `avatar_url` is in `api/users.py` of v2.",
        )
        assert reply["thread_id"] == "UI-42" and reply["deliveries"][0]["payload"]["to"] == [f"BlueLake@{fe_slug}"]
        received = await call("fetch_inbox", project_key=fe, agent_name="BlueLake")
        reply_id = reply["deliveries"][0]["payload"]["id"]
        assert reply_id in [m["id"] for m in received]
        wrap = await call(
            "reply_message",
            project_key=fe,
            message_id=reply_id,
            sender_name="BlueLake",
            cc=["GreenCastle"],
            body_md=f"{DECISION}\n\n{REQUEST}\n\n- [ ] {CHECKBOX}\n",
        )
        wrap_id = wrap["deliveries"][0]["payload"]["id"]
        assert wrap["thread_id"] == "UI-42"

        # RedFox leaves: nobody can write to it any more, and nothing is stored.
        retired = await call("retire_agent", project_key=be, agent_name="RedFox")
        assert retired.get("retired_at")
        before = await count_messages()
        with pytest.raises(ToolError, match=r"^AGENT_RETIRED: .*RedFox"):
            await call(
                "send_message",
                project_key=fe,
                sender_name="BlueLake",
                to=[f"RedFox@{be_slug}"],
                subject="Still there?",
                body_md="ping",
                thread_id="UI-42",
            )
        assert await count_messages() == before

        # GreenCastle's lease blocks BlueLake; once GreenCastle is provably idle it can be taken over.
        blocked = await call("file_reservation_paths", project_key=fe, agent_name="BlueLake", paths=["src/header.tsx"])
        assert blocked["granted"] == [] and blocked["conflicts"][0]["holders"][0]["id"] == lease["id"]
        with pytest.raises(ToolError, match=r"^RESERVATION_ACTIVE: .*agent_recently_active"):
            await call(
                "force_release_file_reservation", project_key=fe, agent_name="BlueLake", file_reservation_id=lease["id"]
            )
        idle = text("UPDATE agents SET last_active_ts = :t WHERE name = 'GreenCastle'")
        await run_write(lambda tx: tx.execute(idle, {"t": to_db_text(utcnow() - timedelta(hours=3))}))
        forced = await call(
            "force_release_file_reservation",
            project_key=fe,
            agent_name="BlueLake",
            file_reservation_id=lease["id"],
            note="Taking over the header per UI-42.",
        )
        assert forced["released"] == 1 and forced["reservation"]["notified"] is True
        assert "agent_inactive>1800s" in forced["reservation"]["stale_reasons"]
        notices = await call("fetch_inbox", project_key=fe, agent_name="GreenCastle", include_bodies=True)
        notice = notices[0]
        assert notice["subject"] == "[file-reservations] Released stale lease on src/header.tsx"
        assert notice["from"] == "BlueLake" and "Taking over the header per UI-42." in notice["body_md"]
        assert "file_reservation_paths" in notice["body_md"]
        assert {m["id"] for m in notices} >= {first["id"], wrap_id}  # the thread mail is still there, unread
        mine = await call("file_reservation_paths", project_key=fe, agent_name="BlueLake", paths=["src/header.tsx"])
        assert mine["conflicts"] == [] and mine["granted"][0]["path_pattern"] == "src/header.tsx"

        # What was decided, and who must do what, with the messages that say so.
        summarized = await call("summarize_thread", project_key=fe, thread_id="UI-42", agent_name="BlueLake")
        summary = summarized["summary"]
        assert summarized["thread_id"] == "UI-42"
        assert {"BlueLake", "GreenCastle"} <= set(summary["participants"])
        assert any(p.startswith("RedFox") for p in summary["participants"])
        assert [(d["text"], d["refs"]) for d in summary["decisions"]] == [(DECISION, [wrap_id])]
        actions = {a["text"]: a for a in summary["action_items"]}
        assert actions[REQUEST]["assignee"] == "GreenCastle" and actions[REQUEST]["refs"] == [wrap_id]
        assert actions[CHECKBOX]["assignee"] == "RedFox" and actions[CHECKBOX]["refs"] == [wrap_id]
        assert actions[CHECKBOX]["kind"] == "checkbox"
        assert "src/header.tsx" in [f["path"] for f in summary["mentioned_files"]]

    # The archive shows the attachment byte for byte, the contacts, and the retirement.
    archive.flush_pending()
    root = Path(get_settings().storage.root)
    assert (root / attached["path"]).read_bytes() == mockup_png()
    contacts_file = root / f"projects/{fe_slug}/agents/BlueLake/contacts.json"
    assert '"status": "approved"' in contacts_file.read_text()
    assert '"retired_at"' in (root / f"projects/{be_slug}/agents/RedFox/profile.json").read_text()
