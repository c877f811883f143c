"""The README's capacity-planning figure: throughput against TTFT p99 for a few layouts of Llama-3.1-70B.

Each layout serves the ShareGPT-like workload (2000 requests, seed 0) with the vLLM preset at arrival rates from
20 % to 200 % of its offline throughput (which a finite offline run understates: its tail drains a shrinking
batch); every point is one `serve` run.

    PYTHONPATH=. python docs/serve_capacity.py   # writes docs/serve_capacity.png (about a minute)
"""

from __future__ import annotations

import math

from idealrt.simulator import api
from idealrt.simulator.plots.serve import plot_rate_sweep

MODEL = "llama-3.1-70b"
LAYOUTS = [("h100-sxm", 4), ("h100-sxm", 8), ("a100-sxm-80gb", 4), ("a100-sxm-80gb", 8)]
FRACTIONS = (0.2, 0.5, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)
REQUESTS = 2000


def main() -> None:
    curves = {}
    for hardware, tp in LAYOUTS:
        offline = api.serve(MODEL, hardware, tp=tp, requests=REQUESTS, rate=math.inf).iloc[0]
        points = []
        for fraction in FRACTIONS:
            row = api.serve(MODEL, hardware, tp=tp, requests=REQUESTS, rate=fraction * offline["requests_per_s"])
            row = row.iloc[0]
            points.append((row["output_tokens_per_s_per_device"], row["ttft_s_p99"]))
            print(
                f"{hardware} tp{tp} {row['requests_per_s']:.2f} req/s: {points[-1][0]:.0f} tok/s/device, "
                f"TTFT p99 {points[-1][1]:.3f} s, TPOT p50 {row['tpot_s_p50'] * 1e3:.1f} ms"
            )
        curves[f"{tp} × {hardware} (tp {tp}), offline {offline['requests_per_s']:.1f} req/s"] = points
    plot_rate_sweep(
        curves,
        "docs/serve_capacity.png",
        f"{MODEL}, vLLM preset, ShareGPT-like requests: throughput per device against TTFT p99\n"
        f"(rates from 20 % to 200 % of each layout's offline throughput; profile auto)",
    )


if __name__ == "__main__":
    main()
