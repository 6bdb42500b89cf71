"""LLM mode against a real stub OpenAI-compatible server on 127.0.0.1, and every fallback path."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastmcp import Client

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache, get_settings

PROJECT = "/work/llm-summary-test"
API_KEY = "sk-test-very-secret-key"
Reply = Callable[[dict[str, Any]], tuple[int, bytes]]


class Stub:
    """A chat-completions endpoint whose answer each test chooses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: Reply = lambda _body: (500, b"{}")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, payload = stub.reply(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *_args: Any) -> None:
                return

        return Handler


def completion(content: str, model: str = "stub-model-1") -> tuple[int, bytes]:
    choice = {"message": {"role": "assistant", "content": content}}
    return 200, json.dumps({"model": model, "choices": [choice]}).encode()


@pytest.fixture
def stub(isolated_env, monkeypatch) -> Iterator[Stub]:
    server = Stub()
    server.thread.start()
    monkeypatch.setenv("LLM_ENABLED", "true")
    monkeypatch.setenv("LLM_BASE_URL", server.url)
    monkeypatch.setenv("LLM_API_KEY", API_KEY)
    monkeypatch.setenv("LLM_MODEL", "stub-model")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "0.5")
    clear_settings_cache()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def client(stub):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        first = await c.call_tool(
            "send_message",
            {
                "project_key": PROJECT,
                "sender_name": "BlueLake",
                "to": ["RedFox"],
                "subject": "Cache",
                "body_md": "- Cache in `src/cache.py`\n- [ ] Write docs\nShould we cache sessions?",
                "thread_id": "T-1",
            },
        )
        second = await c.call_tool(
            "send_message",
            {
                "project_key": PROJECT,
                "sender_name": "RedFox",
                "to": ["BlueLake"],
                "subject": "Re: Cache",
                "body_md": "Sessions stay uncached. We agreed on SQLite.",
                "thread_id": "T-1",
            },
        )
        c.ids = [first.data["deliveries"][0]["payload"]["id"], second.data["deliveries"][0]["payload"]["id"]]
        yield c


async def summarize(client: Client, **extra: Any) -> dict[str, Any]:
    args = {"project_key": PROJECT, "thread_id": "T-1", "llm_mode": True, **extra}
    return (await client.call_tool("summarize_thread", args)).data


async def test_llm_refines_summary_with_valid_refs_only(client, stub, caplog):
    first, second = client.ids
    answer = {
        "overview": "BlueLake proposed a cache; RedFox settled on SQLite.",
        "key_points": [{"text": "Cache goes in src/cache.py", "refs": [first]}, {"text": "Made up", "refs": [999]}],
        "decisions": [{"text": "Use SQLite", "refs": [second, 999]}],
        "action_items": [{"text": "Document the cache", "refs": [first], "assignee": "BlueLake"}],
        "open_questions": [],
    }
    stub.reply = lambda _body: completion("Here you go:\n```json\n" + json.dumps(answer) + "\n```")
    with caplog.at_level(logging.DEBUG):
        summary = (await summarize(client, agent_name="RedFox", llm_model="custom-model"))["summary"]

    assert summary["llm_model"] == "stub-model-1" and "llm_fallback" not in summary
    assert summary["overview"] == answer["overview"]
    assert summary["key_points"] == [{"text": "Cache goes in src/cache.py", "refs": [first]}]
    assert summary["decisions"] == [{"text": "Use SQLite", "refs": [second]}]
    assert summary["action_items"][0] == {"text": "Document the cache", "assignee": "BlueLake", "refs": [first]}
    assert {"text": "Write docs", "kind": "checkbox", "refs": [first]} in summary["action_items"]
    assert summary["mentioned_files"] == [{"path": "src/cache.py", "refs": [first]}]  # rule-based parts stay

    (request,) = stub.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    body = request["body"]
    assert body["model"] == "custom-model" and body["response_format"] == {"type": "json_object"}
    prompt = body["messages"][1]["content"]
    assert f"[#{first}]" in prompt and f"[#{second}]" in prompt and "Should we cache sessions?" in prompt
    assert API_KEY not in json.dumps(summary) and API_KEY not in caplog.text
    assert API_KEY not in repr(get_settings())


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda _b: (500, b'{"error": "boom"}'), "HTTP 500"),
        (lambda _b: (200, b"<html>not json</html>"), "did not return JSON"),
        (lambda _b: completion("I cannot help with that."), "not a JSON object"),
        (lambda _b: (200, b'{"choices": []}'), "no choices"),
        (lambda _b: completion('{"key_points": [{"text": "x", "refs": [12345]}]}'), "no usable items"),
        (lambda _b: (time.sleep(1.5), completion("{}"))[1], "no reply within 0.5 s"),
    ],
)
async def test_any_failure_falls_back_to_the_deterministic_summary(client, stub, reply, reason):
    plain = (await client.call_tool("summarize_thread", {"project_key": PROJECT, "thread_id": "T-1"})).data
    stub.reply = reply
    result = await summarize(client)
    summary = result["summary"]
    assert reason in summary["llm_fallback"]
    assert "llm_model" not in summary
    assert API_KEY not in summary["llm_fallback"] and "127.0.0.1" not in summary["llm_fallback"]
    del summary["llm_fallback"]
    assert summary == plain["summary"]


async def test_unreachable_endpoint_falls_back(client, stub):
    stub.server.shutdown()
    stub.server.server_close()
    summary = (await summarize(client))["summary"]
    assert summary["llm_fallback"].startswith("could not reach the endpoint")


async def test_disabled_llm_is_not_called(client, stub, monkeypatch):
    monkeypatch.setenv("LLM_ENABLED", "false")
    clear_settings_cache()
    summary = (await summarize(client))["summary"]
    assert summary["llm_fallback"] == "LLM_ENABLED is false" and stub.requests == []
    assert "llm_fallback" not in (await summarize(client, llm_mode=False))["summary"]


async def test_summarize_recent_and_multi_thread_use_the_llm(client, stub):
    second = client.ids[1]
    stub.reply = lambda _b: completion(json.dumps({"decisions": [{"text": "SQLite it is", "refs": [second]}]}))
    stored = (await client.call_tool("summarize_recent", {"project_key": PROJECT, "llm_mode": True})).data
    assert stored["llm_model"] == "stub-model-1"
    assert stored["summary"]["decisions"] == [{"text": "SQLite it is", "refs": [second]}]
    listed = (await client.call_tool("fetch_summary", {"project_key": PROJECT})).structured_content["result"]
    assert listed[0]["llm_model"] == "stub-model-1" and listed[0]["summary"] == stored["summary"]

    multi = await summarize(client, thread_id="T-1,NOPE")
    assert multi["aggregate"]["decisions"] == [{"text": "SQLite it is", "refs": [second]}]
    assert multi["aggregate"]["llm_model"] == "stub-model-1"
    assert len(stub.requests) == 2
