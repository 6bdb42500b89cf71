"""Message bodies rendered as HTML: CommonMark features work, and nothing hostile comes out runnable."""

from __future__ import annotations

import pytest
from markupsafe import Markup
from xss_kit import CORPUS, fragment_problems, parse_tags

from mcp_agent_mail.web.markdown import MAX_MARKDOWN_CHARS, render_markdown, safe_image, safe_link


@pytest.mark.parametrize("hostile", CORPUS, ids=[f"corpus-{i}" for i in range(len(CORPUS))])
def test_hostile_input_comes_out_inert(hostile: str) -> None:
    html = render_markdown(hostile)
    assert isinstance(html, Markup)
    assert fragment_problems(str(html)) == []


@pytest.mark.parametrize("hostile", CORPUS, ids=[f"wrapped-{i}" for i in range(len(CORPUS))])
def test_hostile_input_inside_markdown_structures_comes_out_inert(hostile: str) -> None:
    wrapped = f"# {hostile}\n\n- {hostile}\n\n> {hostile}\n\n| h |\n|---|\n| {hostile} |\n\n**{hostile}**"
    assert fragment_problems(str(render_markdown(wrapped))) == []


def test_commonmark_tables_and_strikethrough_render() -> None:
    body = "# Title\n\n*em* **strong** ~~gone~~ `code`\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n1. one\n2. two"
    tags = [tag for tag, _ in parse_tags(str(render_markdown(body)))]
    for expected in ("h1", "em", "strong", "s", "code", "table", "thead", "tbody", "th", "td", "ol", "li"):
        assert expected in tags


def test_table_alignment_becomes_a_class_not_a_style() -> None:
    html = str(render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |"))
    assert 'class="md-align-left"' in html and 'class="md-align-right"' in html
    assert "style" not in html


def test_links_keep_safe_targets_and_get_rel() -> None:
    html = str(render_markdown("[a](https://example.org/x) [b](mailto:x@example.org) [c](docs/readme.md)"))
    hrefs = [dict(attrs)["href"] for tag, attrs in parse_tags(html) if tag == "a"]
    assert hrefs == ["https://example.org/x", "mailto:x@example.org", "docs/readme.md"]
    assert html.count('rel="noopener noreferrer nofollow"') == 3


def test_raw_html_is_shown_as_text() -> None:
    html = str(render_markdown("Hello <b>world</b> & <script>x</script>"))
    assert "&lt;b&gt;world&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html
    assert [tag for tag, _ in parse_tags(html)] == ["p"]


def test_bare_urls_stay_text_and_autolinks_become_links() -> None:
    html = str(render_markdown("see https://example.org and <https://example.com>"))
    hrefs = [dict(attrs)["href"] for tag, attrs in parse_tags(html) if tag == "a"]
    assert hrefs == ["https://example.com"]


def test_images_only_relative_attachments_or_raster_data() -> None:
    body = (
        "![a](docs/a.png) ![b](data:image/png;base64,iVBORw0KGgo=) ![c](https://tracker.example/p.gif) "
        "![d](data:image/svg+xml;base64,PHN2Zz4=) ![e](//tracker.example/p.gif)"
    )
    images = [dict(attrs) for tag, attrs in parse_tags(str(render_markdown(body))) if tag == "img"]
    sources = [img.get("src") for img in images]
    assert "docs/a.png" in sources
    assert "data:image/png;base64,iVBORw0KGgo=" in sources
    assert not any(src and ("tracker" in src or "svg" in src) for src in sources)


def test_attachment_paths_are_pointed_at_their_route() -> None:
    stored = "/projects/demo/attachments/ab/abcdef.webp"
    served = "/mail/projects/demo/messages/7/attachments/0"
    html = str(render_markdown(f"![diagram]({stored})", image_urls={stored: served}))
    assert [dict(attrs)["src"] for tag, attrs in parse_tags(html) if tag == "img"] == [served]


def test_code_language_class_is_kept_only_when_plain() -> None:
    assert 'class="language-python"' in str(render_markdown("```python\nx = 1\n```"))
    html = str(render_markdown('```py" onclick="x\ncode\n```'))
    assert "onclick" not in html and "class" not in html


def test_ordered_list_start_is_kept() -> None:
    assert '<ol start="5">' in str(render_markdown("5. five\n6. six"))


def test_oversized_body_is_plain_escaped_text() -> None:
    body = "# big\n\n<script>alert(1)</script>\n" + "x" * (MAX_MARKDOWN_CHARS + 1)
    html = str(render_markdown(body))
    assert html.startswith('<pre class="md-plain">')
    assert "&lt;script&gt;" in html
    assert [tag for tag, _ in parse_tags(html)] == ["pre"]


def test_inlined_image_data_does_not_count_towards_the_cap() -> None:
    image = "data:image/webp;base64," + "A" * (MAX_MARKDOWN_CHARS + 10)
    html = str(render_markdown(f"# Screenshot\n\n![shot]({image})"))
    assert "<h1>" in html and "<img" in html


def test_deep_nesting_is_bounded() -> None:
    html = str(render_markdown("> " * 5000 + "deep"))
    assert html.count("<blockquote>") <= 50
    assert fragment_problems(html) == []


def test_non_string_input_renders_empty() -> None:
    assert str(render_markdown(None)) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JAVASCRIPT:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "vbscript:x",
        "data:text/html,x",
        "file:///etc/passwd",
        "\\\\evil\\share",
    ],
)
def test_safe_link_refuses_script_and_local_schemes(url: str) -> None:
    assert not safe_link(url)


@pytest.mark.parametrize("url", ["https://x.example", "http://x", "mailto:a@b", "docs/x.md", "#top", "/mail/x"])
def test_safe_link_accepts_web_mail_and_relative(url: str) -> None:
    assert safe_link(url)


@pytest.mark.parametrize(
    "url",
    ["https://x.example/p.gif", "//x.example/p.gif", "data:image/svg+xml,<svg/>", "data:text/html,x", "javascript:x"],
)
def test_safe_image_refuses_remote_svg_and_script(url: str) -> None:
    assert not safe_image(url)


@pytest.mark.parametrize("url", ["a.png", "/x/a.webp", "data:image/png;base64,AA", "DATA:image/JPEG;base64,AA"])
def test_safe_image_accepts_relative_and_raster_data(url: str) -> None:
    assert safe_image(url)
