"""One module per `serpsim-train` subcommand. Each defines `add_parser(subparsers)`, which
registers its parser and sets `func` to a callable taking the parsed args and returning an exit code.
Heavy libraries (verl, torch) are imported inside those callables, never at module import."""

COMMANDS: tuple[str, ...] = (
    "curriculum",
    "prepare_data",
    "rl",
    "export",
    "ask",
    "eval",
    "tiny_policy",
    "collect",
    "judge",
    "build_sft",
    "sft_sim",
    "eval_sim",
    "plot",
    "mini_world",
    "mini_policy",
    "mini_probe",
    "mini_run",
)
