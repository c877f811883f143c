"""`make bench`: how fast `serve` simulates 10,000 requests.

Llama-3.1-8B on one A100 (a100-sxm-80gb-kernels profile), vLLM preset, the ShareGPT-like workload at 8 requests/s
(Poisson, seed 0): about 90,000 engine steps. Timed: `serve()` end to end — the step model's coefficients, the KV
budget, the event loop, the statistics — after one warm-up call (the simulator's formulas compile once per
process). Run as a script it prints the seconds; `serve_seconds()` returns them.
"""

from __future__ import annotations

import time

from idealrt.simulator.deployment import Deployment
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.profile import load_profile
from idealrt.simulator.serving.engines import load_engine
from idealrt.simulator.serving.serve import serve
from idealrt.simulator.serving.workload import SHAREGPT_MAX_TOKENS, generate, sharegpt_distributions

REQUESTS = 10_000
RATE = 8.0


def serve_seconds(repeats: int = 3, clock: str = "wall") -> float:
    """Best of `repeats` seconds for one `serve()` of REQUESTS requests: wall clock, or this process's CPU time
    (`clock="cpu"`; on a shared machine the wall clock also counts other people's work)."""
    timer = time.perf_counter if clock == "wall" else time.process_time
    deployment = Deployment(load_model("llama-3.1-8b"), load_hardware("a100-sxm-80gb"))
    profile = load_profile("a100-sxm-80gb-kernels")
    policy = load_engine("vllm")
    prompt, output = sharegpt_distributions()
    workload = generate(REQUESTS, RATE, prompt, output, seed=0, max_tokens=SHAREGPT_MAX_TOKENS)
    serve(deployment, profile, policy, generate(100, RATE, prompt, output, seed=1))  # warm-up: formula compilation
    best = float("inf")
    for _ in range(repeats):
        started = timer()
        serve(deployment, profile, policy, workload)
        best = min(best, timer() - started)
    return best


if __name__ == "__main__":
    wall, cpu = serve_seconds(), serve_seconds(clock="cpu")
    print(
        f"serve: {REQUESTS:,} requests (ShareGPT-like, {RATE:g} req/s, vLLM, Llama-3.1-8B on A100) in {wall:.2f} s "
        f"({cpu:.2f} s CPU)"
    )
