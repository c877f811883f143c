"""The event loop of one replica: continuous batching, step by step, as a serving engine schedules it.

Each step, in this order: requests that have arrived join the FCFS waiting queue; the engine picks the step's
work under its policy (`EnginePolicy`):
- not mixed (vLLM V0, SGLang): if any prefill work can be scheduled the step is a prefill step (ongoing chunks,
  then new requests from the head of the queue while the token budget, the sequence cap and the KV cache allow);
  otherwise it is a decode step of every running sequence;
- mixed (TensorRT-LLM in-flight batching, Sarathi-style chunked prefill): every running sequence decodes one
  token and the rest of the token budget goes to prefill work as above.
Prefills are whole prompts unless `chunked_prefill`, when the last request scheduled may take a partial chunk.
A step's time is `StepModel.step_seconds` of its exact (decode sequences, Σ contexts, chunks).

KV cache. Capacity is counted in tokens (blocks × block_size). With `reserve_full_output` a request is admitted
only when blocks for its prompt and whole output are free, and it holds them until it finishes (never
preempted). Otherwise blocks are taken as tokens are cached; a sequence's blocks are counted as
tokens + block_size − 1 (its last block full: a bound on paged use within one block), so the real paged use
never exceeds what is counted; when a step does not fit, the most recently admitted sequence is preempted (its
blocks freed, its prompt and generated tokens recomputed later, from the front of the queue: vLLM's RECOMPUTE).

Runs of identical decode steps (nothing can arrive, finish, be admitted or run out of memory in between) are
advanced together, at most MAX_RUN steps at a time, each timed at the run's middle context: per-step times are
affine in the context except where the decode-attention efficiency curve bends, so the error is second order in
the run length. This keeps 10,000 requests well under a second.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from idealrt.simulator.errors import UserError
from idealrt.simulator.serving.engines import EnginePolicy
from idealrt.simulator.serving.step_model import StepModel
from idealrt.simulator.serving.workload import Workload

MAX_RUN = 32  # decode steps advanced together at most
PROGRESS_EVERY = 500
NO_CHUNKS: list[tuple[int, int]] = []  # shared empty step contents (never mutated)
NO_IDS: list[int] = []


@dataclass
class ReplicaTrace:
    """What one replica did: per request (arrays in the workload's order) and per step (lists)."""

    first_token_s: np.ndarray
    finish_s: np.ndarray
    preemptions: int
    itl_s: list[float] = field(default_factory=list)  # inter-token gaps, with
    itl_weight: list[int] = field(default_factory=list)  # how many tokens had that gap
    step_start_s: list[float] = field(default_factory=list)  # per recorded run of steps
    step_duration_s: list[float] = field(default_factory=list)  # the run's total time
    step_count: list[int] = field(default_factory=list)  # steps in the run
    step_batch: list[int] = field(default_factory=list)  # sequences in each step of the run
    step_tokens: list[int] = field(default_factory=list)  # tokens in each step of the run
    step_kv_tokens: list[float] = field(default_factory=list)  # KV-cache tokens allocated during the run
    step_waiting: list[int] = field(default_factory=list)  # requests queued when the run started
    step_running: list[int] = field(default_factory=list)  # requests admitted (decoding or prefilling) in the run
    kv_capacity_tokens: int = 0
    max_kv_tokens: float = 0.0  # the most KV-cache tokens ever allocated


def simulate_replica(
    workload: Workload,
    policy: EnginePolicy,
    step_model: StepModel,
    kv_capacity_tokens: int,
    progress: Callable[[int], None] | None = None,
) -> ReplicaTrace:
    """Serve every request of the workload on one replica; see the module docstring. `progress(finished)` is
    called every PROGRESS_EVERY finished requests."""
    arrival = workload.arrival_s.tolist()
    prompt = [int(x) for x in workload.prompt_tokens]
    output = [int(x) for x in workload.output_tokens]
    n = len(arrival)
    bs = policy.block_size
    cap = kv_capacity_tokens
    budget = policy.token_budget(max(p + o for p, o in zip(prompt, output, strict=True)))
    max_seqs = policy.max_num_seqs
    chunked, mixed, reserve = policy.chunked_prefill, policy.mixed_batches, policy.reserve_full_output
    watermark = policy.watermark * cap
    slack = 0 if reserve else bs - 1  # tokens counted per sequence beyond its cached ones
    if budget < max_seqs and mixed:
        raise UserError(f"engine {policy.name}: max_num_batched_tokens {budget} is below max_num_seqs {max_seqs}")
    longest_prompt = max(prompt)
    if not chunked and longest_prompt > budget:
        raise UserError(
            f"a prompt of {longest_prompt} tokens exceeds max_num_batched_tokens {budget} of engine {policy.name} "
            "without chunked prefill; raise --max-num-batched-tokens or use --chunked-prefill"
        )
    # every request must fit the cache alone, prompt and whole output (vLLM refuses a max_model_len that does not)
    need_alone = max(_reserved(p + o, bs) if reserve else p + o + slack for p, o in zip(prompt, output, strict=True))
    if need_alone > cap:
        raise UserError(
            f"a request needs {need_alone} KV-cache tokens but the cache holds {cap} on this replica; "
            "use more devices (--tp) or shorter requests"
        )

    first_token = [math.nan] * n
    finish = [math.nan] * n
    generated = [0] * n  # tokens produced so far (prefill yields the first)
    target = list(prompt)  # prefill length: the prompt, or prompt + generated after a preemption
    cached = [0] * n  # KV tokens of prefilling sequences (decoders: base + D)
    reserved = [0] * n  # tokens allocated to a sequence under reserve_full_output
    base = [0] * n  # decoders: context = base + D, generated = gbase + D
    gbase = [0] * n
    joined = [0] * n  # a tag per joining (lazy deletion of heap entries)
    tags = 0
    last_token = [0.0] * n  # time of each decoder's latest token before it joined the decoders
    waiting: deque[int] = deque()
    order: list[int] = []  # running requests, oldest admission first
    prefilling: list[int] = []  # running requests with prefill left, in admission order
    decoding: set[int] = set()
    heap: list[tuple[int, int, int]] = []  # (D at which it finishes, request, join tag)
    decode_base_sum = 0  # Σ base over decoders
    allocated = 0.0  # KV tokens counted: Σ cached (+ slack) or Σ reserved
    D = 0  # decode steps run so far (every decoder advances one token per decode-carrying step)
    now = 0.0
    last_decode_end = 0.0
    last_decode_dt = 0.0  # the latest decode-only step's time
    next_arrival = 0
    preemptions = 0
    fresh: list[int] = []  # decoders that have not yet produced their second token since joining
    trace = ReplicaTrace(np.empty(0), np.empty(0), 0, kv_capacity_tokens=cap)
    itl, itl_w = trace.itl_s, trace.itl_weight
    records: list[tuple[float, float, int, int, int, int, int]] = []
    record = records.append
    kv_records: list[float] = []
    record_kv = kv_records.append
    max_allocated = 0.0
    done = 0
    reported = 0

    def release(i: int) -> float:
        if reserve:
            return reserved[i]
        if i in decoding:
            return base[i] + D + slack
        return cached[i] + slack if cached[i] else 0.0

    def preempt_newest() -> None:
        nonlocal decode_base_sum, allocated, preemptions
        victim = order.pop()
        allocated -= release(victim)
        if victim in decoding:
            decoding.discard(victim)
            decode_base_sum -= base[victim]
            generated[victim] = gbase[victim] + D
            joined[victim] = -1  # invalidates its heap entry
            if victim in fresh:
                fresh.remove(victim)
        else:
            prefilling.remove(victim)
        target[victim] = prompt[victim] + generated[victim]
        cached[victim] = 0
        reserved[victim] = 0
        waiting.appendleft(victim)
        preemptions += 1

    def make_room_for_decodes() -> int:
        """Preempt the newest sequences until every decoder can cache one more token; the decoders left."""
        if not reserve:
            while decoding and allocated + len(decoding) > cap:
                preempt_newest()
        return len(decoding)

    def schedule_prefill(room: int, free: float, n_dec: int) -> tuple[list[tuple[int, int]], list[int]]:
        """Prefill chunks for this step: ongoing prefills first, then new requests from the head of the queue."""
        nonlocal allocated
        if not prefilling and not waiting:
            return [], []
        chunks: list[tuple[int, int]] = []
        ids: list[int] = []
        for i in prefilling:
            if room <= 0:
                break
            take = min(target[i] - cached[i], room)
            if not reserve and take > free:
                take = int(free) if chunked else 0
            if take <= 0:
                continue
            chunks.append((take, cached[i] + take))
            ids.append(i)
            room -= take
            if not reserve:
                free -= take
        while waiting and room > 0 and len(order) < max_seqs:
            i = waiting[0]
            need = min(target[i], room) if chunked else target[i]
            if need > room and (chunks or n_dec):
                break  # a whole prompt that does not fit; a recomputation longer than the budget runs alone
            if reserve:
                cost = _reserved(prompt[i] + output[i], bs)
                if cost > free:
                    break
            else:
                cost = need + slack
                if cost > free - watermark:
                    break
            waiting.popleft()
            order.append(i)
            prefilling.append(i)
            if reserve:
                reserved[i] = cost
                allocated += cost
            free -= cost
            chunks.append((need, need))
            ids.append(i)
            room -= need
        return chunks, ids

    while done < n:
        while next_arrival < n and arrival[next_arrival] <= now:
            waiting.append(next_arrival)
            next_arrival += 1
        if not order and not waiting:
            now = arrival[next_arrival]
            continue
        if not (waiting or prefilling):
            chunks, chunk_ids = NO_CHUNKS, NO_IDS
            n_dec = make_room_for_decodes() if not reserve and allocated + len(decoding) > cap else len(decoding)
        elif mixed:
            n_dec = make_room_for_decodes()
            chunks, chunk_ids = schedule_prefill(budget - n_dec, cap - allocated - (0 if reserve else n_dec), n_dec)
        else:
            chunks, chunk_ids = schedule_prefill(budget, cap - allocated, 0)
            n_dec = 0 if chunks else make_room_for_decodes()
        if not chunks and n_dec == 0:
            if order:
                preempt_newest()  # running prefills that cannot continue: free memory for the oldest
                continue
            raise UserError("serve: the head of the queue can never be admitted (KV cache or token budget)")
        # --- how many identical decode steps can run back to back ---
        run = 1
        if not chunks:
            run = min(MAX_RUN, heap[0][0] - D if heap else MAX_RUN)
            if not reserve:
                run = min(run, int((cap - allocated) // n_dec))
            if next_arrival < n and not waiting:  # stop at the next arrival, judged by the last decode step's time
                if last_decode_dt <= 0:
                    last_decode_dt = step_model.step_seconds(n_dec, decode_base_sum + n_dec * (D + 1), (), n_dec)
                run = min(run, max(1, math.ceil((arrival[next_arrival] - now) / last_decode_dt)))
            run = max(run, 1)
        # --- time ---
        context_sum = decode_base_sum + n_dec * (D + 1 + (run - 1) / 2)
        sampled = n_dec
        prefill_tokens = 0
        for (new, ctx), i in zip(chunks, chunk_ids, strict=True):
            prefill_tokens += new
            if ctx >= target[i]:
                sampled += 1
        dt = step_model.step_seconds(n_dec, context_sum, chunks, sampled)
        if not chunks:
            last_decode_dt = dt
        record((now, dt * run, run, n_dec + len(chunks), n_dec + prefill_tokens, len(waiting), len(order)))
        # --- advance ---
        start = now
        now += dt * run
        if n_dec:
            old = n_dec - len(fresh)
            if old:
                itl.append(now - (run - 1) * dt - last_decode_end)
                itl_w.append(old)
            for i in fresh:
                itl.append(start + dt - last_token[i])
                itl_w.append(1)
            fresh.clear()
            if run > 1:
                itl.append(dt)
                itl_w.append(n_dec * (run - 1))
            D += run
            last_decode_end = now
            if not reserve:
                allocated += n_dec * run
            while heap and heap[0][0] <= D:
                _, i, tag = heapq.heappop(heap)
                if tag != joined[i] or i not in decoding:
                    continue
                decoding.discard(i)
                decode_base_sum -= base[i]
                finish[i] = now
                allocated -= reserved[i] if reserve else base[i] + D + slack
                order.remove(i)
                done += 1
        for (new, context), i in zip(chunks, chunk_ids, strict=True):
            cached[i] = context
            if not reserve:
                allocated += new + (slack if context == new else 0)
            if context < target[i]:
                continue
            prefilling.remove(i)
            generated[i] += 1
            if math.isnan(first_token[i]):
                first_token[i] = now
            if generated[i] >= output[i]:
                finish[i] = now
                allocated -= reserved[i] if reserve else context + slack
                order.remove(i)
                done += 1
                continue
            base[i] = context - D
            gbase[i] = generated[i] - D
            tags += 1
            joined[i] = tags
            decoding.add(i)
            decode_base_sum += base[i]
            heapq.heappush(heap, (D + output[i] - generated[i], i, tags))
            last_token[i] = now
            fresh.append(i)
        record_kv(allocated)
        if progress is not None and done // PROGRESS_EVERY != reported:
            reported = done // PROGRESS_EVERY
            progress(done)
        max_allocated = max(max_allocated, allocated)
        if allocated > cap + 1e-6:
            raise AssertionError(f"KV cache over capacity: {allocated} > {cap}")
    if records:
        columns = [list(column) for column in zip(*records, strict=True)]
        (
            trace.step_start_s,
            trace.step_duration_s,
            trace.step_count,
            trace.step_batch,
            trace.step_tokens,
            trace.step_waiting,
            trace.step_running,
        ) = columns
    trace.step_kv_tokens = kv_records
    trace.first_token_s = np.array(first_token)
    trace.finish_s = np.array(finish)
    trace.preemptions = preemptions
    trace.max_kv_tokens = max_allocated
    return trace


def _reserved(tokens: int, block_size: int) -> int:
    """Tokens of the whole blocks that hold `tokens`."""
    return -(-tokens // block_size) * block_size
