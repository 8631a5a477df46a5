"""Making simulation LLMs (ZeroSearch's simulation tuning, reference/zerosearch.md §3), one module per stage:

collect (a policy searches a real backend) -> judge (each query's documents useful or noisy) ->
sft_data (the SFT set in the simulator's exact `sft` templates, held out by question) ->
finetune (TRL's SFTTrainer, LoRA via peft) -> evaluate (controllability of a served simulator).

Every stage reads and writes JSONL (`records`); the console commands are `serpsim-train collect`,
`judge`, `build-sft`, `sft-sim` and `eval-sim`. The trainer reaches the simulator only over HTTP;
the templates come from `serpsim_protocol.prompts`, the ones the simulator renders.
"""
