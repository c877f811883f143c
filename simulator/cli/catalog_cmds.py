"""`idealrt models` and `idealrt hardware`: what the catalogs hold."""

from __future__ import annotations

import argparse
from typing import TypedDict

from idealrt.simulator.cli.common import console, print_json, si


def register(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list the model catalog")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=list_models)
    hardware = commands.add_parser("hardware", help="list the hardware catalog")
    hardware.add_argument("--json", action="store_true")
    hardware.set_defaults(handler=list_hardware)


class ModelRow(TypedDict):
    """One catalog model as `idealrt models` lists it (the table's source and the `--json` output)."""

    id: str
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    attention: str
    mlp: str
    params_total: float
    params_active: float
    published_params: float | None
    max_context: int
    source: str


def list_models(args: argparse.Namespace) -> int:
    from idealrt.simulator.model.catalog import load_model, model_ids
    from idealrt.simulator.parameters import parameter_counts

    rows: list[ModelRow] = []
    for model_id in model_ids():
        spec = load_model(model_id)
        counts = parameter_counts(spec)
        rows.append(
            {
                "id": spec.id,
                "name": spec.name,
                "layers": spec.num_layers,
                "hidden": spec.hidden_size,
                "heads": spec.num_heads,
                "kv_heads": spec.kv_heads,
                "attention": spec.attention_kind,
                "mlp": spec.mlp + (f", MoE {spec.moe.num_experts}×top{spec.moe.top_k}" if spec.moe else ""),
                "params_total": counts.total,
                "params_active": counts.active,
                "published_params": spec.published_params,
                "max_context": spec.max_context,
                "source": spec.source,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="Model catalog (parameter counts derived from the architecture)")
    for column in ("id", "layers", "hidden", "heads/kv", "attn", "mlp", "params", "active", "published", "context"):
        table.add_column(column, justify="left" if column in ("id", "attn", "mlp") else "right")
    for r in rows:
        table.add_row(
            r["id"],
            str(r["layers"]),
            str(r["hidden"]),
            f"{r['heads']}/{r['kv_heads']}",
            r["attention"],
            r["mlp"],
            si(r["params_total"]),
            si(r["params_active"]),
            si(r["published_params"]),
            str(r["max_context"]),
        )
    console().print(table)
    return 0


def list_hardware(args: argparse.Namespace) -> int:
    from idealrt.simulator.hardware import hardware_ids, load_hardware

    specs = [load_hardware(hardware_id) for hardware_id in hardware_ids()]
    if args.json:
        print_json([spec.model_dump() for spec in specs])
        return 0
    from rich.table import Table

    table = Table(title="Hardware catalog (dense peaks; link bandwidth per direction)")
    for column in ("id", "memory", "HBM", "bf16", "fp8", "link", "node", "TDP", "$/h"):
        table.add_column(column, justify="left" if column == "id" else "right")
    for spec in specs:
        bf16 = spec.peak_tflops.get("bf16") or spec.peak_tflops.get("fp16")
        fp8 = spec.peak_tflops.get("fp8")
        table.add_row(
            spec.id,
            f"{spec.memory_gb:g} GB",
            f"{spec.hbm_bandwidth_gb_s:g} GB/s",
            f"{bf16:g} TF" if bf16 else "—",
            f"{fp8:g} TF" if fp8 else "—",
            f"{spec.intra_node_bandwidth_gb_s:g} GB/s" if spec.intra_node_bandwidth_gb_s else "—",
            str(spec.devices_per_node),
            f"{spec.tdp_w:g} W" if spec.tdp_w else "—",
            f"{spec.price_usd_per_hour:.2f}" if spec.price_usd_per_hour else "—",
        )
    console().print(table)
    return 0
