"""serpsim's trainer: ZeroSearch-style RL on verl 0.9.1 against an HTTP search backend."""
