"""The op graph: which kernels a layer runs in a pass, in what order, and what depends on what.

Built from a `PassKey` (the model's structure and the pass's structural options) alone. One networkx DAG per
piece of the model (prologue, each kind of layer, epilogue) and phase. Nodes are op names
with the op's `OpCost` under the `cost` attribute; edges are data dependencies. The device executes a graph in
`stream_order`, a deterministic topological order.
"""

from __future__ import annotations

from dataclasses import replace

import networkx as nx
import sympy as sp

from idealrt.simulator.ops import attention as attn
from idealrt.simulator.ops import collectives as coll
from idealrt.simulator.ops import elementwise as ew
from idealrt.simulator.ops import gemm
from idealrt.simulator.ops.cost import MathPrecision, OpCost
from idealrt.simulator.ops.symbols import (
    E,
    V,
    W,
    a_bytes,
    a_wire,
    b,
    b_all,
    c,
    d_head,
    d_nope,
    d_rope,
    d_v,
    ep,
    f,
    f_e,
    f_sh,
    g_dest,
    h,
    k_top,
    kv_bytes,
    kv_heads_per_device,
    n_pos,
    n_q,
    p_bytes,
    r_kv,
    r_q,
    s,
    tokens,
    tp,
    u_route,
    z_busy,
)
from idealrt.simulator.structure import BuildOptions, LayerKind, ModelStructure, PassKey, Phase, layer_piece


class _GraphBuilder:
    """Appends ops in execution order; each depends on the previous one unless told otherwise."""

    def __init__(self) -> None:
        self.graph = nx.DiGraph()
        self.last: str | None = None

    def add(self, op: OpCost, after: list[str] | None = None) -> str:
        if op.name in self.graph:
            raise ValueError(f"duplicate op name {op.name}")
        self.graph.add_node(op.name, cost=op, order=self.graph.number_of_nodes())
        deps = after if after is not None else ([self.last] if self.last else [])
        for dep in deps:
            self.graph.add_edge(dep, op.name)
        self.last = op.name
        return op.name


def stream_order(graph: nx.DiGraph) -> list[OpCost]:
    """The order one device stream runs the ops: topological, ties broken by insertion order."""
    order = nx.lexicographical_topological_sort(graph, key=lambda name: graph.nodes[name]["order"])
    return [graph.nodes[name]["cost"] for name in order]


# ---------------------------------------------------------------------------------------------------------------
# Prologue and epilogue
# ---------------------------------------------------------------------------------------------------------------


def prologue_graph(structure: ModelStructure, opts: BuildOptions) -> nx.DiGraph:
    g = _GraphBuilder()
    rows = tokens
    g.add(
        ew.lookup(
            "embedding",
            "token-embedding lookup (vocabulary-parallel: V/tp rows per device)",
            rows,
            h,
            table_rows=V / tp,
        )
    )
    if structure.position == "learned":
        g.add(ew.lookup("position_embedding", "learned position-embedding lookup", rows, h, table_rows=n_pos))
        g.add(ew.add("embedding_add", "token + position embeddings", rows, h))
    if opts.tensor_parallel:
        g.add(coll.all_reduce("embedding_all_reduce", "sum the vocabulary-parallel lookups", rows * h * a_wire, tp))
    if structure.embedding_norm:
        g.add(ew.norm("embedding_norm", "norm of the embeddings", structure.norm, rows, h))
    return g.graph


def epilogue_graph(structure: ModelStructure, opts: BuildOptions) -> nx.DiGraph:
    g = _GraphBuilder()
    all_positions = opts.phase is Phase.PREFILL and opts.lm_head_all_positions
    logit_rows = tokens if all_positions else b
    g.add(ew.norm("final_norm", "final norm", structure.norm, tokens, h))
    lm_head = gemm.linear(
        "lm_head",
        "output projection to vocabulary logits (vocabulary-parallel), "
        + ("every prompt position" if all_positions else "last position only"),
        logit_rows,
        sp.ceiling(V / tp),
        h,
        bias=structure.lm_head_bias,
        weight_element_bytes=p_bytes,
        precision=MathPrecision.HIGH,
    )
    if structure.tied_embeddings:  # shares the embedding table; its parameters are counted there
        lm_head = _without_params(lm_head)
    g.add(lm_head)
    if opts.tensor_parallel:
        g.add(
            coll.all_gather("logits_all_gather", "gather vocabulary shards of the logits", logit_rows * V * a_wire, tp)
        )
    g.add(ew.reduction("sampling", "greedy sampling: argmax over the vocabulary", b, V))
    return g.graph


def _without_params(op: OpCost) -> OpCost:
    return replace(op, weight_params=sp.Integer(0), weight_bytes=sp.Integer(0), active_params=sp.Integer(0))


# ---------------------------------------------------------------------------------------------------------------
# Decoder layer
# ---------------------------------------------------------------------------------------------------------------


def layer_graph(structure: ModelStructure, kind: LayerKind, opts: BuildOptions) -> nx.DiGraph:
    """One decoder layer: attention block and MLP (or MoE) block, sequential or parallel."""
    g = _GraphBuilder()
    rows = tokens
    attn_norm = g.add(ew.norm("attn_norm", "pre-attention norm", structure.norm, rows, h))
    if structure.mla:
        _mla_block(g, structure, opts)
    else:
        _attention_block(g, structure, kind, opts)
    attn_out = g.last
    assert attn_out is not None

    if structure.parallel_attention_mlp:
        if structure.norms_per_layer == 1:
            mlp_input = attn_norm
        else:
            mlp_input = g.add(ew.norm("mlp_norm", "pre-MLP norm (parallel branch)", structure.norm, rows, h), after=[])
        g.last = mlp_input
        _mlp_or_moe(g, structure, kind, opts, reduce=False)
        branches = [attn_out, g.last]
        if opts.tensor_parallel:
            g.add(
                coll.all_reduce(
                    "all_reduce",
                    "sum both branches' partial outputs across tensor-parallel ranks",
                    rows * h * a_wire,
                    tp,
                ),
                after=branches,
            )
            branches = [g.last]
        g.add(ew.add("residual", "x + attention(x) + mlp(x)", rows, h, inputs=3), after=branches)
        return g.graph

    if opts.tensor_parallel:
        g.add(
            coll.all_reduce(
                "attn_all_reduce", "sum attention partial outputs across tensor-parallel ranks", rows * h * a_wire, tp
            )
        )
    if structure.norms_per_layer == 4:
        g.add(ew.norm("attn_post_norm", "post-attention norm (sandwich)", structure.norm, rows, h))
    g.add(ew.add("attn_residual", "residual add after attention", rows, h))
    g.add(ew.norm("mlp_norm", "pre-MLP norm", structure.norm, rows, h))
    _mlp_or_moe(g, structure, kind, opts, reduce=True)
    if structure.norms_per_layer == 4:
        g.add(ew.norm("mlp_post_norm", "post-MLP norm (sandwich)", structure.norm, rows, h))
    g.add(ew.add("mlp_residual", "residual add after the MLP", rows, h))
    return g.graph


def _attention_block(g: _GraphBuilder, structure: ModelStructure, kind: LayerKind, opts: BuildOptions) -> None:
    rows = tokens
    q_heads = n_q / tp
    g.add(
        gemm.linear(
            "qkv_proj",
            "fused Q, K, V projection (column-parallel: heads split over tp)",
            rows,
            (q_heads + 2 * kv_heads_per_device) * d_head,
            h,
            bias=structure.qkv_bias,
        )
    )
    if structure.qk_norm:
        g.add(_qk_norm(structure, rows, (q_heads + kv_heads_per_device) * d_head))
    if structure.position == "rotary":
        g.add(
            ew.rotary("rotary", "rotary position embedding of Q and K", rows, (q_heads + kv_heads_per_device) * d_head)
        )
    g.add(
        ew.cache_write(
            "kv_cache_write", "append the new K and V to the KV cache", rows, 2 * kv_heads_per_device * d_head, kv_bytes
        )
    )
    window = W if kind.local_attention else c
    g.add(
        attn.attention(
            "attention",
            ("sliding-window " if kind.local_attention else "")
            + ("naive" if opts.naive_attention else "flash")
            + " attention over the KV cache",
            heads=q_heads,
            kv_heads=kv_heads_per_device,
            qk_dim=d_head,
            v_dim=d_head,
            window=window,
            kv_element_bytes=kv_bytes,
            naive=opts.naive_attention,
        )
    )
    g.add(
        gemm.linear(
            "attn_out_proj",
            "attention output projection (row-parallel)",
            rows,
            h,
            q_heads * d_head,
            bias=structure.attn_out_bias,
        )
    )


def _qk_norm(structure: ModelStructure, rows: sp.Expr, width: sp.Expr) -> OpCost:
    """Qwen3 / Gemma 3: one norm per query head and per key head; its two weight vectors of head_dim are shared by
    every head (replicated over tp), so the parameters are 2·d_head, not the normalized width."""
    op = ew.norm("qk_norm", "per-head norm of the queries and keys", structure.norm, rows, width)
    params = 2 * ew.NORM_PARAMS_PER_CHANNEL[structure.norm] * d_head
    return replace(
        op, bytes_read=rows * width * a_bytes + params * p_bytes, weight_params=params, weight_bytes=params * p_bytes
    )


def _mla_block(g: _GraphBuilder, structure: ModelStructure, opts: BuildOptions) -> None:
    """Multi-head latent attention. Prefill materializes per-head K and V from the latent; decode uses the
    absorbed form (queries projected into the latent space), which reads only the latent cache."""
    rows = tokens
    heads = n_q / tp
    if structure.mla_query_lora:
        g.add(gemm.linear("q_down_proj", "query down-projection to the q LoRA rank (replicated)", rows, r_q, h))
        g.add(ew.norm("q_norm", "norm of the query latent", structure.norm, rows, r_q))
        g.add(gemm.linear("q_up_proj", "query up-projection (column-parallel)", rows, heads * (d_nope + d_rope), r_q))
    else:
        g.add(gemm.linear("q_proj", "query projection (column-parallel)", rows, heads * (d_nope + d_rope), h))
    g.add(
        gemm.linear(
            "kv_down_proj", "key/value down-projection to the latent plus the shared rotary key", rows, r_kv + d_rope, h
        )
    )
    g.add(ew.norm("kv_norm", "norm of the key/value latent", structure.norm, rows, r_kv))
    g.add(ew.rotary("rotary", "rotary embedding of the query and key rotary parts", rows, (heads + 1) * d_rope))
    g.add(
        ew.cache_write(
            "kv_cache_write",
            "append the latent and rotary key to the cache (replicated over tp)",
            rows,
            r_kv + d_rope,
            kv_bytes,
        )
    )
    if opts.phase is Phase.PREFILL:
        g.add(
            gemm.linear(
                "kv_up_proj",
                "expand the latent of every context token into per-head K and V",
                b * c,
                heads * (d_nope + d_v),
                r_kv,
            )
        )
        g.add(
            attn.attention(
                "attention",
                ("naive" if opts.naive_attention else "flash") + " attention over materialized K, V",
                heads=heads,
                kv_heads=heads,
                qk_dim=d_nope + d_rope,
                v_dim=d_v,
                window=c,
                kv_element_bytes=a_bytes,
                naive=opts.naive_attention,
            )
        )
    else:
        g.add(
            gemm.batched_linear(
                "q_absorb", "absorb W_UK: project each head's query into the latent", heads, rows, r_kv, d_nope
            )
        )
        g.add(
            attn.attention(
                "attention",
                "attention over the latent cache (absorbed MLA: one shared latent 'head')",
                heads=heads,
                kv_heads=1,
                qk_dim=r_kv + d_rope,
                v_dim=r_kv,
                window=c,
                kv_element_bytes=kv_bytes,
                naive=opts.naive_attention,
                values_inside_keys=True,
            )
        )
        g.add(
            gemm.batched_linear(
                "out_absorb", "absorb W_UV: map each head's latent output to its value dims", heads, rows, d_v, r_kv
            )
        )
    g.add(gemm.linear("attn_out_proj", "attention output projection (row-parallel)", rows, h, heads * d_v))


def _mlp_or_moe(g: _GraphBuilder, structure: ModelStructure, kind: LayerKind, opts: BuildOptions, reduce: bool) -> None:
    """The MLP (or MoE) block; `reduce` adds the tensor-parallel all-reduce of its output."""
    if kind.moe:
        _moe_block(g, structure, opts)
    else:
        _dense_mlp(g, structure, "mlp", f, "MLP")
    if reduce and opts.tensor_parallel:
        g.add(
            coll.all_reduce(
                "mlp_all_reduce", "sum MLP partial outputs across tensor-parallel ranks", tokens * h * a_wire, tp
            )
        )


def _dense_mlp(g: _GraphBuilder, structure: ModelStructure, prefix: str, width: sp.Expr, what: str) -> None:
    rows = tokens
    gates = 2 if structure.gated_mlp else 1
    g.add(
        gemm.linear(
            f"{prefix}_up_proj",
            f"{what} up projection{' (gate and up fused)' if structure.gated_mlp else ''} (column-parallel)",
            rows,
            gates * width / tp,
            h,
            bias=structure.mlp_bias,
        )
    )
    g.add(
        ew.activation(
            f"{prefix}_act",
            f"{what} activation ({structure.mlp})",
            structure.mlp,
            rows,
            width / tp,
            gated=structure.gated_mlp,
        )
    )
    g.add(
        gemm.linear(
            f"{prefix}_down_proj",
            f"{what} down projection (row-parallel)",
            rows,
            h,
            width / tp,
            bias=structure.mlp_bias,
        )
    )


def _moe_block(g: _GraphBuilder, structure: ModelStructure, opts: BuildOptions) -> None:
    """Routed experts split over `ep` groups (each expert tensor-parallel over the group's `tp` devices).

    Attention is data-parallel over the groups (each holds b of the batch's b_all sequences), but the MoE layer
    of every group serves the tokens of the whole batch: b_all·s tokens make T = b_all·s·k token-expert
    assignments. The layer waits for the busiest group, which is what each group is charged:
    - uniform routing (u_route = 1): a given expert is skipped by one token with probability 1 − k/E, so a group
      touches on average (E/ep)·q of its experts, q = 1 − (1 − k/E)^(b_all·s) (k/ep at decode batch 1, all at
      large batch), with variance (E/ep)·q·(1 − q); its assignments average T/ep, with variance
      T·(1/ep)·(1 − 1/ep)·(E − k)/(E − 1) (each token's k experts drawn without replacement). The busiest of the
      ep groups lies z_busy standard deviations above the mean (`formula_inputs.busiest_group_quantile`), and
      never below the fewest (pigeonhole: ceil(k/ep) experts, ceil(T/ep) assignments) nor above all E/ep experts.
      DeepSeek-V3 at decode batch 1 over 8 groups: 2.4 experts (2.55 by simulation), not the mean's 1;
    - the fewest (u_route = 0, a lower bound): every token may choose the same k experts (each token's k are
      distinct, so no fewer than k), spread evenly over the groups, so the busiest group reads ceil(k/ep) of them
      and serves T/ep assignments.
    Dispatch and combine send each token once to each distinct group its k experts lie in (g_dest), not once
    per expert.
    """
    rows = tokens
    gates = 2 if structure.gated_mlp else 1
    experts_per_group = E / ep
    batch_tokens = b_all * s
    fewest_touched = sp.ceiling(k_top / ep)
    touched_share = 1 - (1 - k_top / E) ** batch_tokens
    mean_touched = experts_per_group * touched_share
    busiest_touched = mean_touched + z_busy * sp.sqrt(mean_touched * (1 - touched_share))
    uniform_touched = sp.Min(experts_per_group, sp.Max(fewest_touched, busiest_touched))
    touched = u_route * uniform_touched + (1 - u_route) * fewest_touched
    mean_assignments = batch_tokens * k_top / ep
    assignment_spread = sp.sqrt(batch_tokens * k_top * (1 / ep) * (1 - 1 / ep) * (E - k_top) / (E - 1))
    busiest_assignments = sp.Max(sp.ceiling(mean_assignments), mean_assignments + z_busy * assignment_spread)
    assignments = u_route * busiest_assignments + (1 - u_route) * mean_assignments
    sent = rows * g_dest * h * a_wire / tp
    g.add(
        gemm.linear(
            "router",
            "router logits (replicated)",
            rows,
            E,
            h,
            weight_element_bytes=p_bytes,
            precision=MathPrecision.HIGH,
        )
    )
    g.add(ew.reduction("router_top_k", "softmax and top-k expert choice", rows, E))
    if opts.expert_parallel:
        g.add(
            coll.all_to_all("moe_dispatch", "send each token once to each group holding one of its experts", sent, ep)
        )
    g.add(
        gemm.expert_linear(
            "expert_up_proj",
            "routed experts' up projections (grouped GEMM over touched experts)",
            assignments=assignments,
            experts_stored=experts_per_group,
            experts_touched=touched,
            experts_active=k_top,
            n=gates * f_e / tp,
            k=h,
        )
    )
    g.add(
        ew.activation(
            "expert_act",
            f"routed experts' activation ({structure.mlp})",
            structure.mlp,
            assignments,
            f_e / tp,
            gated=structure.gated_mlp,
        )
    )
    g.add(
        gemm.expert_linear(
            "expert_down_proj",
            "routed experts' down projections (grouped GEMM over touched experts)",
            assignments=assignments,
            experts_stored=experts_per_group,
            experts_touched=touched,
            experts_active=k_top,
            n=h,
            k=f_e / tp,
        )
    )
    if opts.expert_parallel:
        g.add(
            coll.all_to_all(
                "moe_combine", "return each group's summed expert outputs to their tokens' groups", sent, ep
            )
        )
    g.add(ew.add("moe_weighted_sum", "weighted sum of each token's k expert outputs", rows, h, inputs=k_top))
    if structure.shared_experts:
        _dense_mlp(g, structure, "shared_expert", f_sh, "shared experts'")


def stage_transfer_ops(opts: BuildOptions) -> list[OpCost]:
    """The activations one pipeline stage sends to the next. With tensor parallelism the stage's tp devices each
    hold all of them; each sends a different 1/tp over its own link (between nodes: its own NIC) and the next
    stage all-gathers the pieces over its intra-node links: Megatron-LM's scatter/gather (Narayanan et al.,
    "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM", SC'21, §4.1), instead of
    every device sending the same full tensor over the slower link."""
    activations = tokens * h * a_wire
    if not opts.tensor_parallel:
        return [coll.send_recv("stage_send_recv", "activations to the next pipeline stage", activations)]
    return [
        coll.send_recv("stage_send_recv", "each device's 1/tp of the activations to the next stage", activations / tp),
        coll.all_gather(
            "stage_all_gather", "the next stage gathers the activations from its tp devices", activations, tp
        ),
    ]


def pass_ops(key: PassKey) -> dict[str, list[OpCost]]:
    """Every piece of one pass in stream order: 'prologue', 'layer:<kind>' per layer kind, 'epilogue', and
    'stage_transfer' (run between pipeline stages)."""
    structure, options = key.structure, key.options
    pieces = {"prologue": stream_order(prologue_graph(structure, options))}
    for kind in structure.layer_kinds:
        pieces[layer_piece(kind)] = stream_order(layer_graph(structure, kind, options))
    pieces["epilogue"] = stream_order(epilogue_graph(structure, options))
    pieces["stage_transfer"] = stage_transfer_ops(options)
    return pieces
