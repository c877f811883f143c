"""llm-analysis 0.2.2's time per estimate (requests it refuses as not fitting count as estimates too), run inside `.venv-peers/` by `benchmarks/run.py` (never imported by
idealrt): its `LLMAnalysis.inference` over mixed requests (batch 1–256, prompt 1–32k, output 1–4k) on the
deployments of llm-analysis's own catalog closest to the idealrt bench's. Prints one JSON line."""

import json
import logging
import time

import numpy as np
from llm_analysis.analysis import LLMAnalysis
from llm_analysis.config import (
    ParallelismConfig,
    get_dtype_config_by_name,
    get_gpu_config_by_name,
    get_model_config_by_name,
)

DEPLOYMENTS = [  # (its model config, its GPU config, tp)
    ("NousResearch_Llama-2-7b-hf", "h100-sxm-80gb", 1),
    ("decapoda-research_llama-65b-hf", "h100-sxm-80gb", 4),
    ("facebook_opt-175b", "a100-sxm-80gb", 8),
    ("EleutherAI_gpt-j-6b", "a100-sxm-80gb", 1),
]
CALLS = 2000


def main() -> None:
    logging.disable(logging.CRITICAL)
    analyses = [
        LLMAnalysis(
            get_model_config_by_name(model),
            get_gpu_config_by_name(gpu),
            get_dtype_config_by_name("w16a16e16"),
            ParallelismConfig(tp_size=tp),
        )
        for model, gpu, tp in DEPLOYMENTS
    ]
    rng = np.random.default_rng(0)
    batch = np.floor(np.exp(rng.uniform(0, np.log(257), CALLS))).astype(int)
    prompt = np.floor(np.exp(rng.uniform(0, np.log(2049), CALLS))).astype(int)  # its models' context
    output = np.floor(np.exp(rng.uniform(0, np.log(1025), CALLS))).astype(int)
    answered = 0
    started = time.perf_counter()
    for i in range(CALLS):
        try:
            analyses[i % len(analyses)].inference(
                batch_size_per_gpu=int(batch[i]), seq_len=int(prompt[i]), num_tokens_to_generate=int(output[i])
            )
            answered += 1
        except AssertionError:  # it refuses (asserts) when the request does not fit; that costs it less
            pass
    seconds = (time.perf_counter() - started) / CALLS
    print(json.dumps({"seconds_per_estimate": seconds, "calls": CALLS, "answered": answered}))


if __name__ == "__main__":
    main()
