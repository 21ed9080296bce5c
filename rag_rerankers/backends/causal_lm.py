"""``causal-lm`` (alias ``qwen3-reranker``): yes/no causal-LM rerankers such as Qwen3-Reranker.

A causal LM reads a prompt holding the query and the document and is asked for "yes" or "no";
the score is the probability of "yes" against "no" at the last position (the softmax of those
two logits, :attr:`ScoreType.PROBABILITY`). The default prompt is Qwen3-Reranker's, as its model
card's transformers recipe builds it:

- ``prefix``: a system turn ("Judge whether the Document meets the requirements ...") and the
  opening of the user turn;
- ``template``: ``<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {document}``,
  tokenized as one text and truncated at its end when the prompt exceeds ``max_length``;
- ``suffix``: the end of the user turn and an assistant turn holding an empty think block.

The prefix and suffix are never truncated, so the answer position stays the last token. Other
yes/no rerankers are scored by changing ``prefix``, ``template``, ``suffix``, ``yes_token`` and
``no_token``; ``bge-gemma`` (:mod:`rag_rerankers.backends.bge_gemma`) has its own backend.

How scores are computed (same numbers as the recipe, within float rounding; the tests check
1e-5):

- prompts are length-sorted and batched under the ``batch_tokens`` cap, each batch left-padded
  to its own longest prompt, with position ids counted from each prompt's first real token;
- only the LM-head rows of the answer tokens are applied, to the last position only (the recipe
  computes the whole vocabulary at every position).

Example:
    >>> render(QWEN3_TEMPLATE, instruction="Find answers", query="q?", document="d.")
    '<Instruct>: Find answers\\n<Query>: q?\\n<Document>: d.'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rag_rerankers.backends._local import (
    DTYPES,
    TokenBudgetReranker,
    TruncationWarner,
    load_causal_lm_parts,
    max_length_option,
    split_groups,
    torch_dtype,
)
from rag_rerankers.errors import ConfigError
from rag_rerankers.models import MODEL_CACHE, LoadedModel, resolve_model
from rag_rerankers.options import Option
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType, TokenWindow

# Qwen3-Reranker's prompt, verbatim from its model card's transformers recipe.
QWEN3_SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".'
)
QWEN3_PREFIX = f"<|im_start|>system\n{QWEN3_SYSTEM}<|im_end|>\n<|im_start|>user\n"
QWEN3_TEMPLATE = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"

# Tokens kept free in the long_docs window for merges where the template meets the texts.
JOIN_MARGIN = 4

CAUSAL_LM_REQUIRES = (("transformers", "transformers"), ("torch", "torch"))


def render(template: str, *, instruction: str, query: str, document: str) -> str:
    """Fill a prompt template's ``{instruction}``, ``{query}`` and ``{document}`` fields."""
    return template.format(instruction=instruction, query=query, document=document)


def check_template(template: str) -> str:
    """A template must hold ``{query}`` and ``{document}`` and no other field.

    Example:
        >>> check_template("Q: {query} D: {document}")
        'Q: {query} D: {document}'
    """
    try:
        render(template, instruction="", query="\0q", document="\0d")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"template {template!r} is not a valid prompt template ({exc!r}): its fields are "
            "{instruction}, {query} and {document}; write a literal brace as {{ or }}"
        ) from None
    filled = render(template, instruction="", query="\0q", document="\0d")
    if "\0q" not in filled or "\0d" not in filled:
        raise ConfigError(f"template {template!r} must contain {{query}} and {{document}}")
    return template


@dataclass
class CausalLMRuntime:
    """A loaded causal LM and its tokenizer."""

    model: Any
    tokenizer: Any
    pad_token_id: int
    model_max_length: int
    softcap: float | None  # Gemma 2's final logit soft-capping, if the model has one

    def ids(self, text: str) -> list[int]:
        """Token ids of ``text``, no special tokens added."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_id(self, token: str) -> int:
        """The id of an answer token (e.g. ``"yes"``): it must be one token of the vocabulary."""
        found = self.tokenizer.convert_tokens_to_ids(token)
        if found is None or found == self.tokenizer.unk_token_id or not isinstance(found, int):
            ids = self.ids(token)
            if len(ids) != 1:
                raise ConfigError(f"answer token {token!r} is not a single token of this tokenizer")
            found = ids[0]
        return int(found)

    def head_rows(self, token_ids: Sequence[int]) -> tuple[Any, Any]:
        """The LM-head weight rows (and bias entries, if any) of ``token_ids``."""
        head = self.model.get_output_embeddings()
        rows = head.weight[list(token_ids)].detach().clone()
        bias = getattr(head, "bias", None)
        return rows, (bias[list(token_ids)].detach().clone() if bias is not None else None)


def load_causal_lm(
    name: str, *, device: str | None = None, offline: bool = False, dtype: str | None = None
) -> LoadedModel[CausalLMRuntime]:
    """Load (once per process and settings) a causal LM and its tokenizer (padding on the left)."""
    source = resolve_model(name)
    if dtype is not None:
        torch_dtype(dtype)  # validate early

    def loader() -> CausalLMRuntime:
        tokenizer, model = load_causal_lm_parts(
            source, backend="causal-lm", hub_files=YesNoReranker.hub_files, offline=offline,
            dtype=dtype, device=device)
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        return CausalLMRuntime(
            model=model,
            tokenizer=tokenizer,
            pad_token_id=int(pad),
            model_max_length=int(getattr(config, "max_position_embeddings", 0) or 10**9),
            softcap=getattr(config, "final_logit_softcapping", None),
        )

    return MODEL_CACHE.get(("causal-lm", source.location, device, dtype), loader)


class YesNoReranker(TokenBudgetReranker):
    """What the causal-LM rerankers share: loading, batching and the last-position answer logits.

    A subclass says which answer tokens it reads (:meth:`answer_tokens`), how a prompt is built
    (:meth:`build_inputs`), how the answer logits become a score (:meth:`to_scores`) and how
    many prompt tokens are not document (:meth:`reserved_tokens`, for ``long_docs``).
    """

    options: ClassVar[tuple[Option, ...]] = (
        Option("dtype", "str", None, "Weights dtype (default: the checkpoint's).", choices=DTYPES),
    )
    truncation_scope = "whole prompt"  # what max_length counts, for the truncation warning

    def __init__(
        self,
        model: str | None = None,
        *,
        max_length: int,
        dtype: str | None = None,
        instruction: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        if max_length is None or isinstance(max_length, bool) or max_length < 16:
            raise ConfigError(f"max_length must be >= 16 tokens, got {max_length!r}")
        self.dtype = dtype
        self.instruction = instruction
        with self.loading():
            self._loaded = load_causal_lm(
                str(self.model), device=self.device, offline=self.offline, dtype=dtype
            )
        rt = self._loaded.model
        self.max_length = min(max_length, rt.model_max_length)
        with self._loaded.lock:
            self.setup(rt)
            self._answer_ids = self.answer_ids(rt)
            self._head, self._bias = rt.head_rows(self._answer_ids)
        self.set_token_budget(rt.model.device.type)
        self._truncation = TruncationWarner(self.name, self.max_length, scope=self.truncation_scope)

    # -------------------------------------------------------------- for subclasses
    def setup(self, rt: CausalLMRuntime) -> None:
        """Tokenize the fixed parts of the prompt (called once, under the model's lock)."""

    def answer_tokens(self) -> tuple[str, ...]:
        raise NotImplementedError

    def answer_ids(self, rt: CausalLMRuntime) -> list[int]:
        """The vocabulary ids of :meth:`answer_tokens` (looked up as tokens, like the Qwen3 recipe)."""
        return [rt.token_id(t) for t in self.answer_tokens()]

    def build_inputs(self, query: str, documents: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each prompt and how many documents were cut."""
        raise NotImplementedError

    def to_scores(self, logits: Any) -> Any:
        """Answer logits ``[batch, len(answer_tokens())]`` (float32) -> one score per row."""
        raise NotImplementedError

    def reserved_tokens(self) -> int:
        """Prompt tokens that are neither query nor document."""
        raise NotImplementedError

    # -------------------------------------------------------------- shared
    def token_window(self) -> TokenWindow:
        """The prompt's window: ``max_length`` less the template, shared by query and document."""
        return TokenWindow(
            max_tokens=self.max_length,
            tokenizer=self._loaded.model.tokenizer,
            pair_with_query=True,
            reserved=self.reserved_tokens() + JOIN_MARGIN,
            lock=self._loaded.lock,
        )

    def answer_logits(self, inputs: Sequence[Sequence[int]], batch: Sequence[int]) -> Any:
        """The answer tokens' logits at the last position of each prompt of ``batch``."""
        import torch

        rt = self._loaded.model
        lengths = [len(inputs[i]) for i in batch]
        width = max(lengths)
        ids = torch.full((len(batch), width), rt.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (i, n) in enumerate(zip(batch, lengths, strict=True)):  # left padding
            ids[r, width - n :] = torch.tensor(inputs[i])
            mask[r, width - n :] = 1
        # Positions count from each prompt's first token, so a score does not depend on padding.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        device = rt.model.device
        hidden = rt.model.base_model(
            input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device)
        ).last_hidden_state[:, -1]
        logits = hidden @ self._head.T
        if self._bias is not None:
            logits = logits + self._bias
        logits = logits.float()
        if rt.softcap:
            logits = torch.tanh(logits / rt.softcap) * rt.softcap
        return logits

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        return self.score_groups([(query, documents)])[0]

    def score_groups(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """Raw scores of several ``(query, documents)`` groups, their prompts sharing forward
        passes (length-sorted together under ``batch_size`` and the token budget), split back
        per group. The server's cross-request batching calls it with concurrent requests; a
        score does not depend on its batch (position ids count from each prompt's first
        token), up to float rounding.

        Example:
            >>> callable(YesNoReranker.score_groups)
            True
        """
        import torch

        sizes = [len(docs) for _, docs in groups]
        scores = [0.0] * sum(sizes)
        with self._loaded.lock:
            inputs: list[list[int]] = []
            cut = 0
            for query, documents in groups:
                built, n_cut = self.build_inputs(query, documents)
                inputs += built
                cut += n_cut
            self._truncation.report(cut, len(scores))
            lengths = [len(x) for x in inputs]
            with torch.inference_mode():
                for batch in self.batches(lengths):
                    values = self.to_scores(self.answer_logits(inputs, batch)).cpu().tolist()
                    for i, s in zip(batch, values, strict=True):
                        scores[i] = float(s)
        return split_groups(scores, sizes)


class CausalLMReranker(YesNoReranker):
    """A yes/no causal-LM reranker: P("yes") against "no" at the end of a prompt template.

    Defaults are Qwen3-Reranker's prompt; ``prefix``, ``template``, ``suffix``, ``yes_token``
    and ``no_token`` describe another model's.
    """

    backend = "causal-lm"
    default_model = "Qwen/Qwen3-Reranker-0.6B"
    score_type = ScoreType.PROBABILITY
    options = (
        max_length_option(8192, "Max tokens of the whole prompt (capped by the model); the "
                          "template's text is cut at its end, with a warning, so the prefix and "
                          "suffix always fit.", nullable=False),
        Option("instruction", "str", QWEN3_INSTRUCTION,
               "The task instruction, the template's {instruction}.", nullable=False),
        Option("prefix", "str", None,
               "Text before the template, never truncated; default: Qwen3-Reranker's system "
               "turn and user-turn opening."),
        Option("template", "str", None,
               "The prompt body, with {instruction}, {query} and {document}; default: "
               "Qwen3-Reranker's '<Instruct>: ...\\n<Query>: ...\\n<Document>: ...'."),
        Option("suffix", "str", None,
               "Text after the template, never truncated (the answer is read after it); "
               "default: Qwen3-Reranker's assistant turn with an empty think block."),
        Option("yes_token", "str", "yes", "The answer token meaning relevant.", nullable=False),
        Option("no_token", "str", "no", "The answer token meaning not relevant.", nullable=False),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        max_length: int = 8192,
        instruction: str = QWEN3_INSTRUCTION,
        prefix: str | None = None,
        template: str | None = None,
        suffix: str | None = None,
        yes_token: str = "yes",
        no_token: str = "no",
        **common: Any,
    ) -> None:
        self.prefix = QWEN3_PREFIX if prefix is None else prefix
        self.template = check_template(QWEN3_TEMPLATE if template is None else template)
        self.suffix = QWEN3_SUFFIX if suffix is None else suffix
        if not yes_token or not no_token or yes_token == no_token:
            raise ConfigError(f"yes_token and no_token must be two different tokens, got "
                              f"{yes_token!r} and {no_token!r}")
        self.yes_token, self.no_token = yes_token, no_token
        super().__init__(model, max_length=max_length, instruction=instruction, **common)

    def setup(self, rt: CausalLMRuntime) -> None:
        self._prefix_ids = rt.ids(self.prefix)
        self._suffix_ids = rt.ids(self.suffix)
        self._body_max = self.max_length - len(self._prefix_ids) - len(self._suffix_ids)
        if self._body_max < 8:
            raise ConfigError(
                f"max_length={self.max_length} leaves {self._body_max} tokens beside the prompt's "
                f"prefix and suffix ({len(self._prefix_ids) + len(self._suffix_ids)} tokens): "
                "raise max_length"
            )
        empty = render(self.template, instruction=self.instruction or "", query="", document="")
        self._template_tokens = len(rt.ids(empty))

    def answer_tokens(self) -> tuple[str, ...]:
        return (self.no_token, self.yes_token)

    def reserved_tokens(self) -> int:
        return len(self._prefix_ids) + len(self._suffix_ids) + self._template_tokens

    def prompt(self, query: str, document: str) -> str:
        """The template filled for one document (without prefix and suffix)."""
        return render(self.template, instruction=self.instruction or "", query=query, document=document)

    def build_inputs(self, query: str, documents: Sequence[str]) -> tuple[list[list[int]], int]:
        """``prefix + template[:room] + suffix`` token ids, as the Qwen3-Reranker recipe builds them."""
        tok = self._loaded.model.tokenizer
        bodies = tok([self.prompt(query, d) for d in documents], add_special_tokens=False)["input_ids"]
        out, cut = [], 0
        for body in bodies:
            if len(body) > self._body_max:
                cut += 1
            out.append(self._prefix_ids + list(body)[: self._body_max] + self._suffix_ids)
        return out, cut

    def to_scores(self, logits: Any) -> Any:
        import torch

        return torch.log_softmax(logits, dim=1)[:, 1].exp()  # columns: [no, yes]


BACKEND = BackendInfo(
    CausalLMReranker,
    "Yes/no causal-LM rerankers (transformers): P(yes) at the end of a prompt template; "
    "Qwen3-Reranker's prompt by default, any other through template options.",
    aliases=(Alias("qwen3-reranker"),),
    extra="causal-lm",
    requires=CAUSAL_LM_REQUIRES,
    docs_url="https://huggingface.co/Qwen/Qwen3-Reranker-0.6B",
)
