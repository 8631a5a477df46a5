"""A miniature ZeroSearch that runs on a CPU with no hub and no network (issue 13).

- `names`: fictional names, and near-namesakes for distractors.
- `world`: the seeded world: entities, their attributes and the facts they state.
- `questions`: single- and two-hop question templates, and the train/test split by facts.
- `passages`: the world's "web": one passage per entity (real and distractor), and which
  passages state which fact.
- `build`: writes a world directory (corpus JSONL, QA files for `prepare-data`, world.json).
- `warmup`: the tiny policy's supervised warm-up on the tag protocol over the training questions.
- `probe`: how the warmed-up policy answers held-out questions given gold or random passages.
"""
