"""serpsim benchmarks (`make bench`): see `python -m bench --help`."""
