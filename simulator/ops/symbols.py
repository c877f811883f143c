"""The named quantities every op formula is written in (the scaling book's notation, spelled out).

All counts are per device unless the name says otherwise; `tp` and `ep` appear explicitly in the formulas so
that sharding is visible when a formula is printed.
"""

from __future__ import annotations

import sympy as sp

from idealrt.simulator.formula_inputs import SYMBOL_NAMES

# --- the pass being costed (one forward pass on one device group) ---
b = sp.Symbol("b", positive=True, integer=True)  # sequences in the batch (on this expert-parallel group)
s = sp.Symbol("s", positive=True, integer=True)  # new tokens per sequence in this pass: p in prefill, 1 in decode
c = sp.Symbol("c", positive=True, integer=True)  # tokens each sequence attends over after this pass (KV context)

# --- model architecture ---
h = sp.Symbol("h", positive=True)  # hidden size
n_q = sp.Symbol("n_q", positive=True)  # query heads
n_kv = sp.Symbol("n_kv", positive=True)  # key/value heads
d_head = sp.Symbol("d_head", positive=True)  # head dimension
f = sp.Symbol("f", positive=True)  # dense MLP intermediate size
V = sp.Symbol("V", positive=True)  # vocabulary (padded)
W = sp.Symbol("W", positive=True)  # sliding-window length (global layers: W = c)
n_pos = sp.Symbol("n_pos", positive=True)  # learned position-embedding rows (max context)
E = sp.Symbol("E", positive=True)  # routed experts
k_top = sp.Symbol("k", positive=True)  # routed experts per token
f_e = sp.Symbol("f_e", positive=True)  # routed expert intermediate size
f_sh = sp.Symbol("f_sh", positive=True)  # shared-expert intermediate size (all shared experts together)
r_q = sp.Symbol("r_q", positive=True)  # MLA query LoRA rank
r_kv = sp.Symbol("r_kv", positive=True)  # MLA key/value latent rank
d_nope = sp.Symbol("d_nope", positive=True)  # MLA per-head query/key dims without rotary
d_rope = sp.Symbol("d_rope", positive=True)  # MLA per-head rotary dims (shared key part)
d_v = sp.Symbol("d_v", positive=True)  # MLA per-head value dims

# --- parallelism ---
tp = sp.Symbol("tp", positive=True)  # tensor-parallel degree
ep = sp.Symbol("ep", positive=True)  # expert-parallel degree (groups of tp devices)

# --- bytes per element ---
w_bytes = sp.Symbol("w_bytes", positive=True)  # weights of the linear layers inside blocks
p_bytes = sp.Symbol("p_bytes", positive=True)  # other parameters: embeddings, LM head, norms, biases, router
a_bytes = sp.Symbol("a_bytes", positive=True)  # activations
kv_bytes = sp.Symbol("kv_bytes", positive=True)  # KV cache
a_wire = sp.Symbol("a_wire", positive=True)  # activations on the wire (collectives: 16-bit unless the stack says)

# --- the whole batch and expert routing ---
b_all = sp.Symbol("b_all", positive=True, integer=True)  # sequences in the whole batch, over all ep groups
g_dest = sp.Symbol("g_dest", positive=True)  # distinct ep groups one token's k experts lie in (expected)
u_route = sp.Symbol("u_route", nonnegative=True)  # 1: experts touched as uniform routing expects; 0: the fewest
z_busy = sp.Symbol("z_busy", nonnegative=True)  # standard deviations the busiest of ep groups lies above the mean

WORKLOAD_SYMBOLS = (b, s, c)
ALL_SYMBOLS: tuple[sp.Symbol, ...] = (
    b,
    s,
    c,
    h,
    n_q,
    n_kv,
    d_head,
    f,
    V,
    W,
    n_pos,
    E,
    k_top,
    f_e,
    f_sh,
    r_q,
    r_kv,
    d_nope,
    d_rope,
    d_v,
    tp,
    ep,
    w_bytes,
    p_bytes,
    a_bytes,
    kv_bytes,
    b_all,
    g_dest,
    u_route,
    a_wire,
    z_busy,
)

if tuple(symbol.name for symbol in ALL_SYMBOLS) != SYMBOL_NAMES:  # compiled formulas take arguments in this order
    raise RuntimeError("idealrt.simulator.ops.symbols and simulator.formula_inputs.SYMBOL_NAMES disagree")

# Derived quantities, named once so every formula reads the same way.
tokens = b * s  # tokens processed in this pass
kv_heads_per_device = sp.Max(n_kv / tp, 1)  # KV heads are replicated when tp > n_kv
