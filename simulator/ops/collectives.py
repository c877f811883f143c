"""Collectives with their algorithmic wire bytes per device (ring / pairwise algorithms, as NCCL reports busbw)."""

from __future__ import annotations

import sympy as sp

from idealrt.simulator.ops.cost import ZERO, Collective, OpClass, OpCost


def _collective(name: str, description: str, kind: Collective, group: sp.Expr, wire: sp.Expr) -> OpCost:
    return OpCost(
        name=name,
        op_class=OpClass.COLLECTIVE,
        description=description,
        flops=ZERO,
        bytes_read=ZERO,
        bytes_written=ZERO,
        collective=kind,
        group=group,
        wire_bytes=wire,
    )


def all_reduce(name: str, description: str, payload: sp.Expr, group: sp.Expr) -> OpCost:
    """Ring all-reduce: each device sends 2(g−1)/g of the payload."""
    return _collective(name, description, Collective.ALL_REDUCE, group, 2 * (group - 1) / group * payload)


def all_gather(name: str, description: str, gathered: sp.Expr, group: sp.Expr) -> OpCost:
    """Each device ends with `gathered` bytes, of which it sends and receives (g−1)/g."""
    return _collective(name, description, Collective.ALL_GATHER, group, (group - 1) / group * gathered)


def all_to_all(name: str, description: str, send: sp.Expr, group: sp.Expr) -> OpCost:
    """Each device holds `send` bytes, of which (g−1)/g go to other devices."""
    return _collective(name, description, Collective.ALL_TO_ALL, group, (group - 1) / group * send)


def send_recv(name: str, description: str, payload: sp.Expr) -> OpCost:
    return _collective(name, description, Collective.SEND_RECV, sp.Integer(2), payload)
