"""Output schemas of the tools: the main keys of each result, with their types.

Results omit null and empty fields, and every object may carry further keys, so the schemas
require nothing; nested objects are described by the tool that owns them (a reservation
result by file_reservation_paths, a message by fetch_inbox, ...).
"""

from __future__ import annotations

from mcp_agent_mail.tools.schemas import INTS, B, I, S, Schema, listing, obj, root

OBJ: Schema = {"type": "object"}
ARR: Schema = {"type": "array"}

HEALTH = root(status=S, database=S)
PROJECT = root(slug=S, human_key=S)
AGENT = root(name=S, registration_token=S)
WHOIS = root(name=S, program=S, model=S, task_description=S, last_active_ts=S, recent_commits=ARR)
POLICY = root(agent=S, policy=S)

SEND = root(deliveries=ARR, count=I)
REPLY = root(deliveries=ARR, thread_id=S)
READ = root(read=B, read_at=S)
ACK = root(acknowledged_at=S)
INBOX = listing(obj(id=I, subject=S, thread_id=S, **{"from": S}))
SEARCH = listing(obj(id=I, subject=S, snippet=S))
TOPIC = listing(obj(id=I, subject=S, thread_id=S, body_md=S, **{"from": S}))

CONTACTS = listing(obj(direction=S, to=S, status=S, allows_messaging=B, **{"from": S}))
CONTACT = root(to=S, status=S, expires_ts=S, **{"from": S})
HANDSHAKE = root(request=OBJ, response=OBJ, welcome_message=OBJ)

RESERVE = root(granted=ARR, conflicts=ARR)
RELEASE = root(released=I)
RENEW = root(renewed=I)
FORCE_RELEASE = root(released=I, reservation=OBJ)
GUARD_INSTALL = root(hook=S)
GUARD_UNINSTALL = root(removed=B)

THREAD_SUMMARY = root(thread_id=S, summary=OBJ, threads=ARR, aggregate=OBJ)
RECENT_SUMMARY = root(id=I, summary=OBJ)
SUMMARIES = listing(obj(id=I, summary=OBJ, end_ts=S))

LIFECYCLE = root(status=S, agent_name=S, contact_policy=S)
PROJECT_STATE = root(status=S, slug=S)
PURGE = root(status=S, messages_affected=I, message_ids=INTS)
HARD_DELETE = root(status=S, deleted_counts=OBJ)

START_SESSION = root(agent=OBJ, registration_token=S, file_reservations=OBJ, inbox=ARR)
PREPARE_THREAD = root(project=OBJ, agent=OBJ, thread=OBJ, inbox=ARR)
RESERVATION_CYCLE = root(file_reservations=OBJ, released=OBJ)

WINDOWS = listing(obj(display_name=S))
WINDOW_RENAME = root(display_name=S, old_display_name=S)
WINDOW_EXPIRE = root(expired=B, expired_at=S)
