"""The model's context limit: prompt + output tokens of a sequence may not exceed the positions it was built for.

A sequence of p prompt tokens generating o tokens holds p + o positions at its end (the check vLLM applies to
`max_model_len`). Beyond the model's `max_context` the architecture has no learned positions (GPT-2) or was never
trained there (rotary models), so a prediction there is not a prediction of the published model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from idealrt.simulator.errors import UserError

OVERRIDE_FLAG = "--allow-longer-context"


class HasContext(Protocol):
    """A model spec, or a closed model's partial spec: anything with an id and a context length."""

    @property
    def id(self) -> str: ...

    @property
    def max_context(self) -> int: ...


def context_overflow(
    model: HasContext,
    prompt_tokens: ArrayLike,
    output_tokens: ArrayLike,
    *,
    allow_longer: bool = False,
    case_labels: Sequence[str] | None = None,
) -> str | None:
    """None when every case fits the model's context. Otherwise, with `allow_longer`, the warning to print with
    the results; without it, raises a one-line UserError naming the first case that does not fit.

    `prompt_tokens` and `output_tokens` broadcast against each other (one value per case); `case_labels` names
    the cases in the message (e.g. `cases.csv:5`).
    """
    prompt, output = np.broadcast_arrays(np.asarray(prompt_tokens, dtype=np.int64), np.asarray(output_tokens))
    total = np.ravel(prompt + output.astype(np.int64))
    over = np.flatnonzero(total > model.max_context)
    if over.size == 0:
        return None
    first = int(over[0])
    where = ""
    if case_labels is not None:
        where = f"{case_labels[first]}: "
    elif total.size > 1:
        where = f"case {first + 1} of {total.size}: "
    others = f" ({over.size - 1} more cases also do)" if over.size > 1 else ""
    excess = (
        f"prompt {int(np.ravel(prompt)[first]):,} + output {int(np.ravel(output)[first]):,} = "
        f"{int(total[first]):,} tokens exceeds {model.id}'s max_context of {model.max_context:,}"
    )
    if allow_longer:
        return f"{where}{excess}{others}; estimated anyway ({OVERRIDE_FLAG}): beyond what the model was built for"
    raise UserError(f"{where}{excess}{others}; shorten the request, or pass {OVERRIDE_FLAG} to estimate it anyway")
