"""Turn a simulation LLM's `Doc k: ...` output into documents, robustly.

The model may drop, merge, add, reorder or truncate documents, and may leak tags from the
policy's protocol. None of that may crash a request or yield an empty title or snippet.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .titles import Headlines

# Tags of the search-agent protocol (and chat-template specials) that must never reach a result:
# a policy trained on them would read an <answer> planted by the simulator. Every repetition is
# bounded, so text full of unclosed `<answer` costs linear time, never a backtracking search.
_TAGS = re.compile(
    r"</?\s{0,8}(?:answer|search|information|think|tool_call|tool_response|result|documents?|query)\b[^<>]{0,200}>"
    r"|<\|[^|>]{0,40}\|>",
    re.IGNORECASE,
)
# A `Doc k` marker candidate. It starts at the word itself: a pattern that begins with a repeated
# class (`[*#\s]*Doc`) retries from every character of a whitespace run, quadratic time. Gaps
# are bounded; `.` counts only when no digit follows, so "doc 2.5 tons" is not a marker.
_MARKER = re.compile(
    r"\bDoc(?:ument)?[ \t]{0,3}(\d{1,3})[ \t]{0,3}\**[ \t]{0,3}(?:([:：])|[.)\]\-](?!\d))", re.IGNORECASE
)
_LINE_LEAD = frozenset(" \t*#->•")
"""What may stand between a line's start and a marker that opens it (`**Doc 1:**`, `## Doc 2.`, `- Doc 3)`)."""
_OUTPUT_HEADER = re.compile(r"\s*(?:useful|noisy)\s+output\s*:", re.IGNORECASE)
_WORD = re.compile(r"\w")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Document:
    title: str
    snippet: str

    @property
    def key(self) -> str:
        """Stable identity of a document: the same text always maps to the same id and link."""
        return hashlib.sha1(f"{self.title}\n{self.snippet}".encode()).hexdigest()[:16]

    @property
    def slug(self) -> str:
        return _SLUG.sub("-", self.title.lower()).strip("-")[:60] or "document"


def scrub(text: str) -> str:
    """Remove protocol tags and chat specials; keep the words between them."""
    return _TAGS.sub(" ", text)


def _clean(piece: str) -> str:
    # str.split() and the regex `\s` agree on what whitespace is (both use Py_UNICODE_ISSPACE);
    # split-and-join collapses each run to one space as `re.sub(r"\s+", " ", ...)` does, faster.
    return " ".join(piece.split()).strip(" \t-*#:|")


def make_document(text: str, headlines: Headlines) -> Document | None:
    """A document from one piece of generated text; None if nothing readable is left.

    The snippet is the whole text; the title a headline from the query and the text (titles.py).
    """
    snippet = _clean(text)
    if not _WORD.search(snippet):
        return None
    return Document(title=headlines.of(snippet) or snippet[:60], snippet=snippet)


def _starts_line(text: str, at: int) -> bool:
    """Only `_LINE_LEAD` characters between the line's start and `at`. It walks back over that
    run alone, and the runs before two markers never overlap: all calls together are linear."""
    i = at - 1
    while i >= 0 and text[i] in _LINE_LEAD:
        i -= 1
    return i < 0 or text[i] == "\n"


def _marker_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each marker that opens a document.

    A marker that starts a line opens one, whatever its number. One inside a line opens one only
    as `Doc k:` with the next expected k: documents merged onto one line still separate, while
    "see Doc 2: ..." inside document 4, or "per doc 2.5 tons", stays text.
    """
    spans: list[tuple[int, int]] = []
    expected = 1
    for m in _MARKER.finditer(text):
        number = int(m.group(1))
        if _starts_line(text, m.start()) or (m.group(2) is not None and number == expected):
            spans.append((m.start(), m.end()))
            expected = number + 1
    return spans


def parse_documents(text: str, query: str = "", limit: int | None = None) -> list[Document]:
    """Documents in the order they appear, deduplicated, at most `limit`.

    With `Doc k:` markers, each marker that opens a document (`_marker_spans`) starts one.
    Without any, each non-empty line is a document. Linear time in the length of `text`.
    `query` is what the titles are made from (`make_document`).
    """
    text = scrub(text).replace("\r", "\n")
    header = _OUTPUT_HEADER.match(text)
    if header is not None:
        text = text[header.end() :]
    spans = _marker_spans(text)
    if spans:
        ends = [start for start, _ in spans[1:]] + [len(text)]
        pieces = [text[marker_end:end] for (_, marker_end), end in zip(spans, ends)]
    else:
        pieces = text.split("\n")
    documents: list[Document] = []
    seen: set[str] = set()
    headlines = Headlines(query)
    for piece in pieces:
        doc = make_document(piece, headlines)
        if doc is None or doc.snippet in seen:
            continue
        seen.add(doc.snippet)
        documents.append(doc)
        if limit is not None and len(documents) >= limit:
            break
    return documents
