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


def _key(word: str) -> str:
    return word.lower()


def _query_words(query: str) -> set[str]:
    return {_key(w.strip(_EDGE + _BREAK)) for w in query.split()}


def _runs(snippet: str, skip: set[str]) -> list[list[str]]:
    """Runs of consecutive content words in the snippet's opening, split at punctuation."""
    runs: list[list[str]] = []
    run: list[str] = []
    for raw in snippet.split()[:SCAN_WORDS]:
        word = raw.strip(_EDGE).rstrip(_BREAK).strip(_EDGE)
        key = _key(word)
        if word and any(c.isalnum() for c in word) and key not in STOPWORDS and key not in skip:
            run.append(word)
        elif run:
            runs.append(run)
            run = []
        if run and (raw.rstrip(_EDGE)[-1:] in _BREAK or len(run) == PHRASE_WORDS):
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


def distinguishing_phrase(query: str, snippet: str) -> str:
    runs = _runs(snippet, _query_words(query))
    if not runs:
        return ""
    for run in runs:
        if len(run) >= 2:
            return " ".join(run)
    words = [run[0] for run in runs]
    named = next((w for w in words if w[:1].isupper() or w[:1].isdigit()), words[0])
    return named


def headline(query: str, snippet: str) -> str:
    """`Query: phrase` (see the module's docstring); the snippet's opening when there is no query."""
    words = query.split()[:QUERY_WORDS]
    head = " ".join(words)
    head = head[:1].upper() + head[1:]
    phrase = distinguishing_phrase(query, snippet)
    if head and phrase:
        return f"{head}: {phrase}"
    return head or phrase
