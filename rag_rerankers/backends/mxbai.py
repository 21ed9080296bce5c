"""``mxbai``: mixedbread's mxbai-rerank-v2 (a Qwen2 causal LM judging relevance as "1" or "0").

A faithful re-implementation on plain transformers of ``mxbai_rerank.MxbaiRerankV2`` (package
``mxbai-rerank`` 0.1.6), whose ``.rank()`` fails under transformers 5 (``Qwen2Tokenizer`` no
longer has ``prepare_for_model``). Same prompt, same token budget, same score: the logit of
"1" minus the logit of "0" at the last position (:attr:`ScoreType.LOGIT`). Tests check the
scores against the upstream package (with that one method patched back) on the same model.

Differences that do not change scores:

- pairs are length-sorted and batched, each batch left-padded to its own longest member
  (upstream pads to a multiple of 8; rotary positions are relative, so scores do not move);
- only the two needed rows of the LM head are applied, to the last position only (upstream
  computes the full vocabulary at every position);
- a one-time warning says how many documents were truncated.

Example:
    >>> prompt_parts("what is rope?", "Rotary embeddings.", instruction=None)
    ('query: what is rope?', 'document: Rotary embeddings.')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag_rerankers.backends._local import (
    DTYPES,
    TokenBudgetReranker,
    TruncationWarner,
    load_causal_lm_parts,
    max_length_option,
    torch_dtype,
)
from rag_rerankers.errors import ConfigError
from rag_rerankers.models import MODEL_CACHE, LoadedModel, resolve_model
from rag_rerankers.options import Option
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType

# The prompt of mxbai_rerank.MxbaiRerankV2 (0.1.6), verbatim.
SEP = "\n"
INSTRUCTION_PROMPT = "instruction: {instruction}"
QUERY_PROMPT = "query: {query}"
DOC_PROMPT = "document: {document}"
TASK_PROMPT = (
    "You are a search relevance expert who evaluates how well documents match search queries. "
    "For each query-document pair, carefully analyze the semantic relationship between them, "
    "then provide your binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:"
)
CHAT_PREFIX = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n<|im_start|>user\n"
)
CHAT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"


def prompt_parts(query: str, document: str, instruction: str | None) -> tuple[str, str]:
    """The query part and the document part of one prompt (before tokenization)."""
    query_text = QUERY_PROMPT.format(query=query)
    if instruction:
        query_text = INSTRUCTION_PROMPT.format(instruction=instruction) + SEP + query_text
    return query_text, DOC_PROMPT.format(document=document)


@dataclass
class MxbaiRuntime:
    """The loaded model plus the pre-tokenized template pieces."""

    model: Any
    tokenizer: Any
    head: Any  # [2, hidden]: LM-head rows of "1" and "0"
    prefix: list[int]
    suffix: list[int]  # sep + task prompt + chat suffix
    sep: list[int]
    model_max_length: int
    pad_token_id: int

    @property
    def predefined_length(self) -> int:
        return len(self.prefix) + len(self.suffix)


def load_mxbai(
    name: str, *, device: str | None = None, offline: bool = False, dtype: str | None = None
) -> LoadedModel[MxbaiRuntime]:
    """Load (once per process and settings) an mxbai-rerank-v2 model."""
    source = resolve_model(name)
    if dtype is not None:
        torch_dtype(dtype)  # validate early

    def loader() -> MxbaiRuntime:
        tokenizer, model = load_causal_lm_parts(
            source, backend="mxbai", hub_files=MxbaiReranker.hub_files, offline=offline,
            dtype=dtype, device=device)

        def ids(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        yes, no = ids("1")[0], ids("0")[0]
        weight = model.get_output_embeddings().weight
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id or 0
        return MxbaiRuntime(
            model=model,
            tokenizer=tokenizer,
            head=weight[[yes, no]].detach().clone(),
            prefix=ids(CHAT_PREFIX),
            suffix=ids(SEP) + ids(TASK_PROMPT) + ids(CHAT_SUFFIX),
            sep=ids(SEP),
            model_max_length=int(model.config.max_position_embeddings),
            pad_token_id=int(pad),
        )

    return MODEL_CACHE.get(("mxbai", source.location, device, dtype), loader)


class MxbaiReranker(TokenBudgetReranker):
    """mxbai-rerank-v2: relevance as the '1' vs '0' logit of a Qwen2 causal LM, upstream's prompt."""

    backend = "mxbai"
    default_model = "mixedbread-ai/mxbai-rerank-base-v2"
    score_type = ScoreType.LOGIT
    options = (
        max_length_option(8192, "Max tokens of query + document (capped by the model; longer "
                          "ones are truncated, with a warning).", nullable=False),
        Option("dtype", "str", None, "Weights dtype (default: the checkpoint's).", choices=DTYPES),
        Option("instruction", "str", None, "Optional task instruction put before the query."),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        max_length: int = 8192,
        dtype: str | None = None,
        instruction: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        if max_length is None or max_length < 16:
            raise ConfigError(f"max_length must be >= 16 tokens, got {max_length!r}")
        self.dtype = dtype
        self.instruction = instruction
        with self.loading():
            self._loaded = load_mxbai(self.model, device=self.device, offline=self.offline,
                                      dtype=dtype)
        rt = self._loaded.model
        # Upstream: the prompt template must fit beside max_length in the model's window.
        self.max_length = min(max_length, rt.model_max_length - rt.predefined_length)
        self.set_token_budget(rt.model.device.type)
        self._truncation = TruncationWarner(self.name, self.max_length)

    def build_inputs(self, query: str, documents: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each prompt (as upstream builds them) and how many documents were cut."""
        rt = self._loaded.model
        tok = rt.tokenizer
        query_text, _ = prompt_parts(query, "", self.instruction)
        q_ids = list(tok(query_text, add_special_tokens=False)["input_ids"])
        q_ids = q_ids[: self.max_length * 3 // 4]  # upstream reserves room for the document
        doc_texts = [prompt_parts(query, d, self.instruction)[1] for d in documents]
        doc_ids = tok(doc_texts, add_special_tokens=False)["input_ids"]
        available = rt.model_max_length - len(q_ids) - rt.predefined_length
        doc_max = min(available, self.max_length)
        second_max = self.max_length - len(q_ids)  # "only_second" truncation of sep + document
        out, cut = [], 0
        for ids in doc_ids:
            second = rt.sep + list(ids)[:doc_max]
            second = second[: max(second_max, 0)]
            if len(second) < len(rt.sep) + len(ids):
                cut += 1
            out.append(rt.prefix + q_ids + second + rt.suffix)
        return out, cut

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        import torch

        rt = self._loaded.model
        scores = [0.0] * len(documents)
        with self._loaded.lock:
            inputs, cut = self.build_inputs(query, documents)
            self._truncation.report(cut, len(documents))
            lengths = [len(x) for x in inputs]
            device = rt.model.device
            with torch.inference_mode():
                for batch in self.batches(lengths):
                    width = max(lengths[i] for i in batch)
                    ids = torch.full((len(batch), width), rt.pad_token_id, dtype=torch.long)
                    mask = torch.zeros((len(batch), width), dtype=torch.long)
                    for r, i in enumerate(batch):  # left padding: the last token is real
                        ids[r, width - lengths[i] :] = torch.tensor(inputs[i])
                        mask[r, width - lengths[i] :] = 1
                    hidden = rt.model.base_model(
                        input_ids=ids.to(device), attention_mask=mask.to(device)
                    ).last_hidden_state[:, -1]
                    yes_no = hidden @ rt.head.T
                    diff = (yes_no[:, 0] - yes_no[:, 1]).float().cpu().tolist()
                    for i, s in zip(batch, diff, strict=True):
                        scores[i] = s
        return scores


BACKEND = BackendInfo(
    MxbaiReranker,
    "mxbai-rerank-v2: a Qwen2 causal LM scoring relevance as the '1' vs '0' logit.",
    aliases=(Alias("mxbai-rerank"),),
    requires=(("transformers", "transformers"), ("torch", "torch")),
)
