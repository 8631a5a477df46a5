"""`python -m tests.simulator.serve_fake PORT DELAY_S`: the app with a slow fake engine, served as
`serpsim-simulator serve` serves it (graceful shutdown), for the SIGTERM test."""

from __future__ import annotations

import sys

import uvicorn
from serpsim_simulator.app import create_app
from serpsim_simulator.cli import exit_zero_on_sigterm
from serpsim_simulator.logs import configure_logging

from .conftest import make_settings
from .fakes import FakeEngine


def main(argv: list[str]) -> int:
    port, delay_s = int(argv[0]), float(argv[1])
    configure_logging("info")
    settings = make_settings(limits={"graceful_shutdown_s": 10})
    app = create_app(settings, engine=FakeEngine(delay_s=delay_s))
    exit_zero_on_sigterm()
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False,
        timeout_graceful_shutdown=settings.limits.graceful_shutdown_s,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
