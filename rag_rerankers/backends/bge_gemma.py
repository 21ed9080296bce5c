"""``bge-gemma``: BAAI's bge-reranker-v2-gemma, FlagEmbedding's LLM-reranker prompt.

The prompt is built as ``FlagEmbedding.FlagLLMReranker.compute_score`` (FlagEmbedding 1.2.11)
builds it: ``<bos>A: {query}`` (cut to 3/4 of ``max_length``), then ``\\nB: {passage}`` (the
passage cut to ``max_length``, then the pair cut from the passage's end to fit), then
``\\n{instruction}``, where the instruction is FlagEmbedding's prompt "Given a query A and a
passage B, determine whether ...". The score is the logit of the "Yes" token at the last
position (:attr:`ScoreType.LOGIT`): FlagEmbedding's ``compute_score``; its ``normalize=True`` is
the sigmoid (``normalize=sigmoid`` here).

Batching and the last-position head are the ``causal-lm`` backend's
(:mod:`rag_rerankers.backends.causal_lm`).

Example:
    >>> from rag_rerankers.registry import get_backend
    >>> get_backend("bge-gemma")[1]
    'BAAI/bge-reranker-v2-gemma'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag_rerankers.backends._local import max_length_option
from rag_rerankers.backends.causal_lm import CAUSAL_LM_REQUIRES, CausalLMRuntime, YesNoReranker
from rag_rerankers.options import Option
from rag_rerankers.registry import BackendInfo
from rag_rerankers.types import ScoreType

# FlagEmbedding's FlagLLMReranker (1.2.11), verbatim.
FLAG_PROMPT = (
    "Given a query A and a passage B, determine whether the passage contains an answer to the "
    "query by providing a prediction of either 'Yes' or 'No'."
)
SEP = "\n"
QUERY_FORMAT = "A: {}"
PASSAGE_FORMAT = "B: {}"


class BgeGemmaReranker(YesNoReranker):
    """bge-reranker-v2-gemma: the 'Yes' logit after FlagEmbedding's LLM-reranker prompt."""

    backend = "bge-gemma"
    default_model = "BAAI/bge-reranker-v2-gemma"
    score_type = ScoreType.LOGIT
    truncation_scope = "query + passage"
    options = (
        max_length_option(512, "Max tokens of query + passage (FlagEmbedding's max_length; "
                          "longer passages are cut at their end, with a warning).", nullable=False),
        Option("instruction", "str", FLAG_PROMPT,
               "The prompt after the passage (FlagEmbedding's prompt).", nullable=False),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        max_length: int = 512,
        instruction: str = FLAG_PROMPT,
        **common: Any,
    ) -> None:
        super().__init__(model, max_length=max_length, instruction=instruction, **common)

    def setup(self, rt: CausalLMRuntime) -> None:
        self._sep = rt.ids(SEP)
        self._prompt = rt.ids(self.instruction or FLAG_PROMPT)
        bos = rt.tokenizer.bos_token_id
        self._bos = [int(bos)] if bos is not None else []
        self._labels = len(rt.ids(QUERY_FORMAT.format(""))) + len(rt.ids(PASSAGE_FORMAT.format("")))

    def answer_tokens(self) -> tuple[str, ...]:
        return ("Yes",)

    def answer_ids(self, rt: CausalLMRuntime) -> list[int]:
        # FlagEmbedding's yes_loc: the first id of "Yes" encoded as text (with a tokenizer that
        # adds a leading space this is "▁Yes", not the vocabulary entry "Yes").
        return [rt.ids("Yes")[0]]

    def reserved_tokens(self) -> int:
        # max_length counts query and passage; the bos and the "A: "/"B: " labels come out of it.
        return len(self._bos) + self._labels

    def build_inputs(self, query: str, documents: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each prompt, as ``FlagLLMReranker.compute_score`` builds them."""
        tok = self._loaded.model.tokenizer
        q_ids = tok(QUERY_FORMAT.format(query), add_special_tokens=False)["input_ids"]
        first = self._bos + list(q_ids)[: self.max_length * 3 // 4]
        passages = tok([PASSAGE_FORMAT.format(d) for d in documents], add_special_tokens=False)
        encode_max = self.max_length + len(self._sep) + len(self._prompt)
        out, cut = [], 0
        for p_ids in passages["input_ids"]:
            second = self._sep + list(p_ids)[: self.max_length]
            excess = len(first) + len(second) - encode_max
            if excess > 0:  # prepare_for_model(truncation="only_second")
                second = second[: len(second) - excess]
            if len(second) < len(self._sep) + len(p_ids):
                cut += 1
            out.append(first + second + self._sep + self._prompt)
        return out, cut

    def to_scores(self, logits: Any) -> Any:
        return logits[:, 0]


BACKEND = BackendInfo(
    BgeGemmaReranker,
    "bge-reranker-v2-gemma (transformers): the 'Yes' logit after FlagEmbedding's LLM-reranker "
    "prompt.",
    extra="causal-lm",
    requires=CAUSAL_LM_REQUIRES,
    docs_url="https://huggingface.co/BAAI/bge-reranker-v2-gemma",
)
