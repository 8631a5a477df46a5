"""The provider clients' suite: the real, unmodified clients in `.venv/client-providers`
(scripts/install_clients.sh) against the simulator subprocesses of ../conftest.py (the open one
hosts the `facts` corpus beside the tiny model; the keyed one takes `keyed_simulator.api_key`).

Searches that assert exact content go to the corpus (`backend=facts`): its rows come back
unmodified. Searches on the simulation assert shape, count and the labels serpsim adds.
"""

from __future__ import annotations

import os

# litellm fetches its model-price map over the network at import unless told not to (3 tries, ~7 s).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
