"""A result's title: a short headline, never the snippet's opening words.

The snippet carries the whole generated document, so a client that reads only snippets loses
nothing. The title is the query, then a colon and the phrase that sets this document apart:
the first run of two to four content words (neither stopwords nor words of the query, a run
ending at punctuation), else its first name or figure (a capitalised word or a number), else
its first content word. With nothing to set it apart, the title is the query alone.

Why not the first words of the document, as before: Search-R1-style renderings
(`Doc i(Title: ...) text`) and SerpApi agents (title, then snippet) showed them twice.

    "capital of France", "Paris is the capital of France and home to the Eiffel Tower."
        -> "Capital of France: Eiffel Tower"
"""

from __future__ import annotations

import re

QUERY_WORDS = 8
PHRASE_WORDS = 4
SCAN_WORDS = 60
"""Only the document's opening is searched for a phrase: a headline speaks of what comes first."""

_EDGE = "\"'“”‘’()[]{}<>*_`"
_BREAK = ",.;:!?)]}…"
STOPWORDS = frozenset(
    """a an the and or but nor so yet if then than that this these those there here it its it's
    is are was were be been being am has have had having do does did done will would shall should
    can could may might must of in on at to for from by with about as into onto over under after
    before between through during against without within upon via per not no also very just only
    more most much many some any each every all both either neither such own same other which who
    whom whose what when where why how he she they them their theirs his her hers we us our you
    your i me my mine one ones since until while because although though whether s""".split()
)


_TRIM = _EDGE + _BREAK
_ALNUM = re.compile(r"[^\W_]")


class Headlines:
    """Titles for the documents of one query: its words are looked at once, not per document."""

    def __init__(self, query: str) -> None:
        words = query.split()
        head = " ".join(words[:QUERY_WORDS])
        self.head = head[:1].upper() + head[1:]
        self.skip = STOPWORDS | {w.strip(_TRIM).lower() for w in words}

    def phrase(self, snippet: str) -> str:
        """The distinguishing phrase (module docstring); it stops at the first run of two words."""
        run: list[str] = []
        first = named = ""
        for raw in snippet.split(maxsplit=SCAN_WORDS)[:SCAN_WORDS]:
            word = raw.strip(_TRIM)
            # isalnum() first: true for most words, and a tenth of a regex search's cost
            if word and word.lower() not in self.skip and (word.isalnum() or _ALNUM.search(word)):
                run.append(word)
                first = first or word
                if not named and (word[0].isupper() or word[0].isdigit()):
                    named = word
                if len(run) < PHRASE_WORDS and (word is raw or raw.rstrip(_EDGE)[-1:] not in _BREAK):
                    continue  # the run goes on (`word is raw`: nothing was stripped, no punctuation)
            if len(run) >= 2:
                return " ".join(run)
            run = []
        return " ".join(run) if len(run) >= 2 else named or first

    def of(self, snippet: str) -> str:
        """`Query: phrase`; the query alone when nothing sets the document apart (no query: the phrase)."""
        phrase = self.phrase(snippet)
        if self.head and phrase:
            return f"{self.head}: {phrase}"
        return self.head or phrase
