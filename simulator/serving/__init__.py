"""`idealrt serve`: a continuous-batching serving engine simulated step by step.

- `step_model`: the time of one engine step from the simulator's per-op model (the only contact with its internals)
- `engines` (+ `engines.yaml`): the vLLM, SGLang and TensorRT-LLM presets, every value with its source
- `workload`: Poisson or offline request streams, length distributions, the ShareGPT-like preset, trace files
- `scheduler`: the event loop of one replica (batching, paged KV cache, admission, preemption)
- `report`: throughput and latency percentiles; `serve`: the use case; `confirm`: serve under `capacity`/`plan`
"""
