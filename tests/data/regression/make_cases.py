"""Fixed regression cases: many deployments and profiles, outputs ≤ 9 (every decode step evaluated exactly)."""

import csv

import numpy as np

rng = np.random.default_rng(7)
deployments = [
    ("llama-3.1-8b", "h100-sxm", 1, 1, 1, "bf16", "h100-sxm-kernels"),
    ("llama-3.1-70b", "h100-sxm", 4, 1, 1, "bf16", "ideal"),
    ("llama-3.1-70b", "h100-sxm", 8, 2, 1, "fp8", "h100-sxm-kernels"),
    ("mixtral-8x7b", "a100-sxm-80gb", 2, 1, 1, "bf16", "a100-sxm-80gb-kernels"),
    ("mixtral-8x7b", "h100-sxm", 2, 1, 4, "bf16", "ideal"),
    ("gpt3-175b", "a100-sxm-80gb", 8, 1, 1, "fp16", "megatron-a100-2022"),
    ("gpt-j-6b", "a100-sxm-80gb", 1, 1, 1, "fp16", "megatron-a100-2022"),
    ("qwen2.5-7b", "l40s", 1, 1, 1, "bf16", "derated"),
    ("deepseek-v3", "h200-sxm", 8, 1, 1, "fp8", "derated"),
    ("gemma-2-27b", "mi300x", 1, 1, 1, "bf16", "derated"),
    ("mistral-7b", "a10g", 1, 1, 1, "int4", "ideal"),
    ("falcon-7b", "a100-sxm-80gb", 1, 1, 1, "bf16", "a100-sxm-80gb-kernels"),
    ("bloom-176b", "h100-sxm", 8, 1, 1, "int8", "h100-sxm-kernels"),
    ("qwen2-57b-a14b", "h100-sxm", 4, 1, 2, "bf16", "derated"),
    ("gemma-2-9b", "h100-sxm", 2, 1, 1, "bf16", "ideal"),
    ("gpt2-xl", "a100-sxm-80gb", 1, 3, 1, "fp16", "ideal"),
]
with open("tests/data/regression/cases.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(
        ["model", "hardware", "tp", "pp", "ep", "weights_dtype", "profile", "batch", "prompt_tokens", "output_tokens"]
    )
    for d in deployments:
        for _ in range(12):
            batch = int(rng.choice([1, 2, 3, 8, 17, 64]))
            prompt = int(rng.integers(1, 1024))
            output = int(rng.integers(1, 10))
            w.writerow([*d, batch, prompt, output])
