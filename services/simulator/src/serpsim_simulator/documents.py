"""Turn a simulation LLM's `Doc k: ...` output into documents, robustly.

The model may drop, merge, add, reorder or truncate documents, and may leak tags from the
policy's protocol. None of that may crash a request or yield an empty title or snippet.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Tags of the search-agent protocol (and chat-template specials) that must never reach a result:
# a policy trained on them would read an <answer> planted by the simulator.
_TAGS = re.compile(
    r"</?\s*(?:answer|search|information|think|tool_call|tool_response|result|documents?|query)\b[^>]*>"
    r"|<\|[^|>]{0,40}\|>",
    re.IGNORECASE,
)
# `(?<!\S)`: at the start or after whitespace; the same as `(?:^|(?<=\s))`, and a quarter faster.
_DOC_MARKER = re.compile(r"(?<!\S)[*#\s]*(?:Doc(?:ument)?)\s*(\d{1,3})\s*[*]*\s*[:：.)\]-]", re.IGNORECASE)
_OUTPUT_HEADER = re.compile(r"^\s*(?:useful|noisy)\s+output\s*:\s*", re.IGNORECASE)
_WORD = re.compile(r"\w")
_SLUG = re.compile(r"[^a-z0-9]+")

TITLE_WORDS = 8


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


def make_document(text: str) -> Document | None:
    """A document from one piece of generated text; None if nothing readable is left."""
    snippet = _clean(text)
    if not _WORD.search(snippet):
        return None
    words = snippet.split(" ", TITLE_WORDS)[:TITLE_WORDS]
    title = " ".join(words).rstrip(",;:.-–—")
    return Document(title=title or snippet[:60], snippet=snippet)


def parse_documents(text: str, limit: int | None = None) -> list[Document]:
    """Documents in the order they appear, deduplicated, at most `limit`.

    With `Doc k:` markers, each marker starts a document (markers merged onto one line split
    too). Without any marker, each non-empty line is a document.
    """
    text = _OUTPUT_HEADER.sub("", scrub(text).replace("\r", "\n"))
    markers = list(_DOC_MARKER.finditer(text))
    if markers:
        ends = [m.start() for m in markers[1:]] + [len(text)]
        pieces = [text[m.end() : end] for m, end in zip(markers, ends)]
    else:
        pieces = text.split("\n")
    documents: list[Document] = []
    seen: set[str] = set()
    for piece in pieces:
        doc = make_document(piece)
        if doc is None or doc.snippet in seen:
            continue
        seen.add(doc.snippet)
        documents.append(doc)
        if limit is not None and len(documents) >= limit:
            break
    return documents
