"""Message bodies as safe HTML: CommonMark (with tables and strikethrough), then an allow-list sanitiser.

Two layers keep a body from running anything in the reader's browser:

1. markdown-it-py parses the Markdown with raw HTML turned off, so every ``<`` the author typed
   becomes text, and it refuses ``javascript:``, ``vbscript:``, ``file:`` and non-image ``data:``
   link targets. Linkify stays off: only CommonMark autolinks (``<https://...>``) become links.
2. nh3 (the ammonia sanitiser) then keeps only the tags and attributes listed below, and a filter
   re-checks every URL: links may be http, https, mailto or relative; images may be relative,
   one of the message's own attachments (``image_urls``) or a PNG/JPEG/GIF/WebP ``data:`` URL;
   classes only name a code language or a table cell's alignment. No ``style``, no event
   handler, no SVG, no remote image (a remote image would tell its owner who read the mail).

Bodies longer than :data:`MAX_MARKDOWN_CHARS` (not counting inlined image data) are shown as
plain text, so one huge message cannot tie the page up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

MAX_MARKDOWN_CHARS = 200_000
"""Markdown longer than this (inlined image data aside) is shown as escaped plain text."""

MAX_TOTAL_CHARS = 2 * 1024 * 1024
"""Text longer than this is shown as plain text whatever it holds."""

ALLOWED_TAGS = frozenset(
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
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title"}),
    "ol": frozenset({"start"}),
    "code": frozenset({"class"}),
    "th": frozenset({"class"}),
    "td": frozenset({"class"}),
}
LINK_REL = "noopener noreferrer nofollow"
LINK_SCHEMES = frozenset({"http", "https", "mailto"})

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp)(?:;base64)?,", re.IGNORECASE)
_DATA_IMAGE_IN_TEXT = re.compile(r"data:image/[A-Za-z]+;base64,[A-Za-z0-9+/=]+")
_CODE_CLASS = re.compile(r"^language-[A-Za-z0-9_+#.-]{1,40}$")
_ALIGN_CLASS = re.compile(r"^md-align-(?:left|center|right)$")
_ALIGN_STYLE = re.compile(r"^text-align:(left|center|right)$")


def _align_to_class(state: Any) -> None:
    """Turn the table cells' ``style="text-align:..."`` into a class, since styles are not allowed."""
    for token in state.tokens:
        if token.type not in ("th_open", "td_open"):
            continue
        style = token.attrGet("style")
        if style is None:
            continue
        token.attrs.pop("style", None)
        found = _ALIGN_STYLE.match(str(style))
        if found:
            token.attrSet("class", f"md-align-{found.group(1)}")


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.core.ruler.push("align_to_class", _align_to_class)
    return md


_MD = _parser()


def _compact(value: str) -> str:
    """Drop the whitespace and control characters browsers ignore inside a URL."""
    return _INVISIBLE.sub("", value)


def _scheme(value: str) -> str | None:
    """Return the lower-case scheme of a URL, or None for a relative one."""
    found = _SCHEME.match(value)
    return found.group(1).lower() if found else None


def safe_link(value: str) -> bool:
    """Tell whether a link target may appear in an ``href``: http, https, mailto or relative."""
    compact = _compact(value)
    if "\\" in compact:
        return False
    scheme = _scheme(compact)
    return scheme in LINK_SCHEMES if scheme is not None else True


def safe_image(value: str, own: frozenset[str] = frozenset()) -> bool:
    """Tell whether an image source may load: relative, one of ``own``, or a raster ``data:`` URL."""
    if value in own:
        return True
    compact = _compact(value)
    if compact.startswith("//") or "\\" in compact:
        return False
    scheme = _scheme(compact)
    if scheme is None:
        return True
    return scheme == "data" and _DATA_IMAGE.match(compact) is not None


def _attribute_filter(own: frozenset[str]) -> Any:
    def keep(element: str, attribute: str, value: str) -> str | None:
        if attribute == "href":
            return value if safe_link(value) else None
        if attribute == "src":
            return value if element == "img" and safe_image(value, own) else None
        if attribute == "class":
            pattern = _CODE_CLASS if element == "code" else _ALIGN_CLASS
            return value if pattern.match(value) else None
        if attribute == "start":
            return value if value.isdigit() and len(value) <= 9 else None
        return value

    return keep


def _cleaner(own: frozenset[str]) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter(own),
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=set(LINK_SCHEMES | {"data"}),
    )


_DEFAULT_CLEANER = _cleaner(frozenset())


def _too_long(text: str) -> bool:
    if len(text) > MAX_TOTAL_CHARS:
        return True
    if len(text) <= MAX_MARKDOWN_CHARS:
        return False
    return len(_DATA_IMAGE_IN_TEXT.sub("", text)) > MAX_MARKDOWN_CHARS


def _rewrite_images(tokens: list[Any], image_urls: Mapping[str, str]) -> None:
    """Point images at the message's stored attachments (by their archive path) where one matches."""
    for token in tokens:
        if token.children:
            _rewrite_images(token.children, image_urls)
        if token.type != "image":
            continue
        src = str(token.attrGet("src") or "")
        target = image_urls.get(src) or image_urls.get(src.lstrip("/"))
        if target is not None:
            token.attrSet("src", target)


def sanitize_html(html: str, image_urls: Mapping[str, str] | None = None) -> str:
    """Keep only the allowed tags, attributes and URLs of an HTML fragment."""
    own = frozenset(image_urls.values()) if image_urls else frozenset()
    cleaner = _cleaner(own) if own else _DEFAULT_CLEANER
    return str(cleaner.clean(html))


def render_markdown(text: str, *, image_urls: Mapping[str, str] | None = None) -> Markup:
    """Render a message body's Markdown as sanitised HTML safe to place in a page.

    ``image_urls`` maps an attachment's archive path (as the body references it) to the URL
    that serves it; those images load, other non-relative images do not.
    """
    source = text if isinstance(text, str) else ""
    if _too_long(source):
        return Markup('<pre class="md-plain">{}</pre>').format(escape(source))
    env: dict[str, Any] = {}
    tokens = _MD.parse(source, env)
    if image_urls:
        _rewrite_images(tokens, image_urls)
    html = _MD.renderer.render(tokens, _MD.options, env)
    return Markup(sanitize_html(html, image_urls))


__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "LINK_REL",
    "MAX_MARKDOWN_CHARS",
    "render_markdown",
    "safe_image",
    "safe_link",
    "sanitize_html",
]
