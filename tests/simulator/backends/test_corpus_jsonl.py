"""Bad corpus files: a clear error naming the file and line, and no index left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from serpsim_simulator.backends.corpus.build import BuildOptions, build_index
from serpsim_simulator.backends.corpus.jsonl import CorpusReader
from serpsim_simulator.backends.errors import CorpusError

GOOD = '{"id": "a", "title": "A", "text": "Alpha."}\n'


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        (GOOD + '{"id": "b", "title": "B", "text": "   "}\n', 2, "no text: document 'b' has an empty text"),
        (GOOD + '{"id": "b", "title": "B"}\n', 2, "no text: each line needs `text`"),
        (GOOD + '{"id": "b", "contents": "\\"Only a title\\"\\n"}\n', 2, "no text"),
        (GOOD + '{"id": "b", "text": "Beta."\n', 2, "not valid JSON"),
        (GOOD + '["b", "Beta."]\n', 2, "expected a JSON object, got list"),
        (GOOD + '{"title": "B", "text": "Beta."}\n', 2, "missing `id`"),
        (GOOD + '{"id": " ", "text": "Beta."}\n', 2, "empty `id`"),
        (GOOD + '{"id": "b", "text": 42}\n', 2, "`text` must be a string, not int"),
        (GOOD + '{"id": "b", "text": "Beta."}\n{"id": "a", "text": "Again."}\n', 3, "duplicate id 'a' (first on line 1)"),
        (GOOD + '{"id": 7, "text": "Seven."}\n{"id": "7", "text": "Again."}\n', 3, "duplicate id '7'"),
        (GOOD.encode().decode() + '{"id": "b", "text": "\udcff"}\n', 2, "not valid JSON"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, body: str, line: int, says: str) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(body.encode("utf-8", "surrogateescape"))
    with pytest.raises(CorpusError) as info:
        build_index(corpus, tmp_path / "idx", BuildOptions(bm25=True), progress=False)
    assert str(info.value).startswith(f"{corpus}:{line}: ")
    assert says in str(info.value)
    assert not (tmp_path / "idx").exists()
    assert not list(tmp_path.glob(".idx.building-*"))


@pytest.mark.parametrize("body", ["", "\n\n  \n"])
def test_empty_corpus(tmp_path: Path, body: str) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(body)
    with pytest.raises(CorpusError, match="empty corpus"):
        build_index(corpus, tmp_path / "idx", BuildOptions(bm25=True), progress=False)
    assert not (tmp_path / "idx").exists()


def test_missing_corpus_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such corpus file"):
        build_index(tmp_path / "nope.jsonl", tmp_path / "idx", BuildOptions(bm25=True), progress=False)


def test_both_forms_and_their_details_are_read(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        '{"id": 1, "title": "Paris", "text": " Paris is the capital of France. "}\n'
        "\n"
        '{"id": "2", "contents": "\\"Lyon\\"\\nLyon lies on the Rhône."}\n'
        '{"id": "3", "contents": "Untitled text only."}\n'
        '{"id": "4", "text": "No title here."}\n'
        '{"id": "5", "title": "Two\\nlines", "text": "A title is one line."}\n'
    )
    reader = CorpusReader(corpus)
    passages = [(p.id, p.title, p.text) for p in reader]
    assert passages == [
        ("1", "Paris", "Paris is the capital of France."),
        ("2", "Lyon", "Lyon lies on the Rhône."),
        ("3", "", "Untitled text only."),
        ("4", "", "No title here."),
        ("5", "Two lines", "A title is one line."),
    ]
    assert reader.count == 5 and reader.bytes_read == corpus.stat().st_size


def test_an_existing_index_is_kept_unless_overwritten(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(GOOD)
    out = tmp_path / "idx"
    build_index(corpus, out, BuildOptions(bm25=True), progress=False)
    from serpsim_simulator.backends.errors import IndexBuildError

    with pytest.raises(IndexBuildError, match="already exists"):
        build_index(corpus, out, BuildOptions(bm25=True), progress=False)
    # A failed rebuild with --overwrite leaves the old index in place.
    corpus.write_text(GOOD + "not json\n")
    with pytest.raises(CorpusError):
        build_index(corpus, out, BuildOptions(bm25=True), overwrite=True, progress=False)
    assert (out / "manifest.json").is_file()
