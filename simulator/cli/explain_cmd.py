"""`idealrt explain`: the formula of an op, symbolic and with the model's numbers substituted (for teaching)."""

from __future__ import annotations

import argparse

from idealrt.simulator.validation import BATCH, DEGREE, TOKENS

QUANTITIES = ("flops", "bytes_read", "bytes_written", "weight_params", "gemm_m", "gemm_n", "gemm_k", "wire_bytes")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("explain", help="show an op's FLOP and byte formulas", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--op", help="op name (omit to list the ops of each phase)")
    parser.add_argument("--phase", choices=("prefill", "decode"), default="prefill")
    parser.add_argument("--tp", type=DEGREE, default=1)
    parser.add_argument("--ep", type=DEGREE, default=1)
    parser.add_argument("--batch", type=BATCH, default=1, help="b (default 1)")
    parser.add_argument("--prompt", type=TOKENS, default=1024, help="prompt tokens (default 1024)")
    parser.add_argument(
        "--context", type=TOKENS, default=None, help="decode: KV context c (default prompt + 1, the first decode step)"
    )
    parser.add_argument("--weights-dtype", default="bf16")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sympy as sp

    from idealrt.simulator.cli.common import console, si
    from idealrt.simulator.deployment import Deployment
    from idealrt.simulator.errors import unknown_name_error
    from idealrt.simulator.evaluate import evaluate
    from idealrt.simulator.formula_inputs import model_bindings
    from idealrt.simulator.graph import pass_ops
    from idealrt.simulator.hardware import load_hardware
    from idealrt.simulator.model.catalog import load_model
    from idealrt.simulator.ops.cost import OpCost
    from idealrt.simulator.structure import BuildOptions, PassKey, Phase, model_structure

    model = load_model(args.model)
    # Any hardware with bf16 math serves for counting; explain shows counts, not times.
    deployment = Deployment(
        model=model, hardware=load_hardware("h100-sxm"), tp=args.tp, ep=args.ep, weights_dtype=args.weights_dtype
    )
    phase = Phase(args.phase)
    options = BuildOptions(phase=phase, tensor_parallel=args.tp > 1, expert_parallel=args.ep > 1)
    pieces = pass_ops(PassKey(model_structure(model), options))
    ops: dict[str, OpCost] = {}
    for name, piece in pieces.items():
        if name != "stage_transfer":
            for op in piece:
                ops.setdefault(op.name, op)
    out = console()
    if args.op is None:
        out.print(f"ops of {model.id} in {phase.value} (tp={args.tp}): " + ", ".join(ops))
        return 0
    if args.op not in ops:
        raise unknown_name_error(f"op in {phase.value}", args.op, ops)
    op = ops[args.op]
    new_tokens = args.prompt if phase is Phase.PREFILL else 1
    context = args.prompt if phase is Phase.PREFILL else (args.context or args.prompt + 1)
    workload = {"b": args.batch, "s": new_tokens, "c": context, "b_all": args.batch}
    values = model_bindings(model) | deployment.bindings() | workload | {"u_route": 0.0}  # `ideal`: fewest experts
    out.print(f"[bold]{op.name}[/bold] ({op.op_class.value}): {op.description}")
    out.print(f"model {model.id}, {phase.value}, b={args.batch}, s={new_tokens}, c={context}, tp={args.tp}")
    for name, expr in op.expressions().items():
        if name not in QUANTITIES or expr == 0:
            continue
        value = float(evaluate(expr, values))
        out.print(f"\n[bold]{name}[/bold] =")
        out.print(sp.pretty(sp.simplify(expr), use_unicode=True, wrap_line=False))
        out.print(f"  = {value:,.6g}  ({si(value)})")
    return 0
