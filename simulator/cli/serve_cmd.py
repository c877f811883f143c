"""`idealrt serve`: simulate a serving engine step by step — continuous batching, a paged KV cache, whole or
chunked prefill — on replicas of a deployment, for a stream of requests; throughput and latency percentiles.

Engines (`--engine`, parameters and their sources in simulator/serving/engines.yaml, each overridable):
  vllm    vLLM v0.6 (V0): whole prefills in prefill-only steps, 256 sequences, 16-token blocks, 0.9 of memory
  sglang  SGLang v0.3: 8192-token prefill chunks in prefill-only steps, token-level KV pool, 0.88 of memory
  trtllm  TensorRT-LLM v0.12 in-flight batching: whole prompts mixed into decode steps, 8192 tokens a step,
          64-token blocks, 0.9 of free memory, requests admitted only with room for their whole output
Step times are the simulator's per-op model for each step's exact (decode sequences, contexts, prefill
chunks). Workload: --requests N at --rate R (Poisson, seeded; inf: all at t = 0, the offline case) with
--prompt-dist/--output-dist (const:N, uniform:LOW:HIGH, lognormal:MEDIAN:SIGMA) or, by default, a
ShareGPT-like preset (means 161 / 338 tokens, Kwon et al. 2023); or --trace FILE.csv
(arrival_s,prompt_tokens,output_tokens).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from idealrt.simulator.cli.common import add_dtype_arguments, add_profile_argument, console, print_json, seconds, si

OVERRIDES = (
    ("max_num_seqs", int, "sequences running at once"),
    ("max_num_batched_tokens", int, "tokens in one step"),
    ("block_size", int, "KV-cache block, tokens"),
    ("memory_fraction", float, "share of device memory (or of free memory) for weights + KV cache"),
    ("watermark", float, "share of KV blocks kept free when admitting"),
)
SWITCHES = (
    ("chunked_prefill", "split prompts into chunks that fill the step's token budget"),
    ("mixed_batches", "put prefill tokens into decode steps"),
    ("reserve_full_output", "admit only with blocks for the whole output free (no preemption)"),
)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="simulate a serving engine (continuous batching, paged KV cache) on a request stream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="catalog id (see `idealrt models`) or a config.json path")
    parser.add_argument("--hardware", required=True, help="catalog id (see `idealrt hardware`) or a spec YAML path")
    parser.add_argument("--tp", type=int, default=1, help="tensor-parallel degree of a replica (default 1)")
    parser.add_argument("--pp", type=int, default=1, help="pipeline stages of a replica (default 1)")
    parser.add_argument("--replicas", type=int, default=1, help="replicas; requests dealt round robin (default 1)")
    add_dtype_arguments(parser)
    add_profile_argument(parser, default="auto")
    parser.add_argument("--engine", default="vllm", help="vllm | sglang | trtllm (default vllm)")
    for name, kind, text in OVERRIDES:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=f"{text} (engine default)")
    for name, text in SWITCHES:
        parser.add_argument(
            "--" + name.replace("_", "-"),
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"{text} (engine default)",
        )
    parser.add_argument("--requests", type=int, default=1000, help="requests to simulate (default 1000)")
    parser.add_argument("--rate", type=float, default=math.inf, help="requests/s, Poisson; inf: all at t = 0")
    parser.add_argument("--prompt-dist", help="prompt tokens per request (default: the ShareGPT-like preset)")
    parser.add_argument("--output-dist", help="output tokens per request (default: the ShareGPT-like preset)")
    parser.add_argument("--trace", metavar="FILE", help="CSV of arrival_s,prompt_tokens,output_tokens")
    parser.add_argument("--seed", type=int, default=0, help="random seed of arrivals and lengths (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (stable field names)")
    parser.add_argument("--plot", metavar="FILE", help="write latency over time and the batch size (PNG)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from idealrt.simulator.serving.serve import ServeInputs, run_serve

    overrides: list[tuple[str, Any]] = [(name, getattr(args, name)) for name, _, _ in OVERRIDES]
    overrides += [(name, getattr(args, name)) for name, _ in SWITCHES]
    inputs = ServeInputs(
        model=args.model,
        hardware=args.hardware,
        tp=args.tp,
        pp=args.pp,
        weights_dtype=args.weights_dtype,
        act_dtype=args.act_dtype,
        kv_dtype=args.kv_dtype,
        profile=args.profile,
        engine=args.engine,
        engine_overrides=tuple((name, value) for name, value in overrides if value is not None),
        requests=args.requests,
        rate=args.rate,
        prompt_dist=args.prompt_dist,
        output_dist=args.output_dist,
        trace=args.trace,
        seed=args.seed,
        replicas=args.replicas,
    )
    show_progress = not args.no_progress and sys.stderr.isatty()
    if show_progress:
        from rich.progress import Progress

        with Progress(transient=True, console=_stderr_console()) as bar:
            task = bar.add_task("serving", total=args.requests * args.replicas if args.trace is None else None)
            result = run_serve(inputs, progress=lambda done: bar.update(task, completed=done))
    else:
        result = run_serve(inputs)
    record = result.record
    if args.plot:
        from idealrt.simulator.plots.serve import plot_serve

        plot_serve(result, args.plot)
    if args.json:
        print_json(record)
        return 0
    print_summary(record)
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def print_summary(record: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    out.print(
        f"{record['model']} on {record['replicas']} × {record['devices_per_replica']} {record['hardware']} "
        f"(tp {record['tp']}, pp {record['pp']}), engine {record['engine']}; {record['workload']}"
    )
    out.print(f"{record['profile_note']}")
    out.print(
        f"throughput  {record['requests_per_s']:.3g} req/s, {si(record['input_tokens_per_s'], 'tok/s')} in, "
        f"{si(record['output_tokens_per_s'], 'tok/s')} out ({si(record['output_tokens_per_s_per_device'], 'tok/s')} "
        f"out per device) over {seconds(record['makespan_s'])}, first arrival to last token"
    )
    table = Table(title_justify="left")
    for column in ("", "mean", "p50", "p90", "p99"):
        table.add_column(column, justify="left" if not column else "right")
    for name, label in (
        ("ttft_s", "time to first token"),
        ("tpot_s", "time per output token"),
        ("itl_s", "inter-token latency"),
        ("e2e_s", "end to end"),
    ):
        table.add_row(label, *(seconds(record[f"{name}_{q}"]) for q in ("mean", "p50", "p90", "p99")))
    out.print(table)
    out.print(
        f"mean batch {record['mean_batch']:.1f} sequences; KV cache {record['kv_capacity_tokens']:,} tokens, "
        f"{100 * record['kv_occupancy']:.0f}% used on average (peak {100 * record['max_kv_occupancy']:.0f}%); "
        f"{record['preemptions']} preemptions; {record['steps']:,} steps"
    )
