"""Keys inside nested config strings stay hidden; resumed evaluations never mix up two specs.

- A key written inside a percent-encoded ``fallbacks=`` value (once, twice, three times
  nested), in a later segment of an ``a | b`` chain, or under an option name that is itself
  percent-encoded never appears in ``redact_spec``, ``ConfigError`` messages (and their
  tracebacks and pickles), the eval run label, ``per_query.jsonl``, ``eval.json``,
  ``compare.json``, ``compare.csv``, the console tables or the CLI's output.
- ``evaluate``/``eval --out`` resume a fallback chain (the second run used to raise, since the
  chain was given to ``parse_spec``); two specs that differ anywhere (a later chain segment, or
  only the secret) never share stored records; the key written to disk for a spec with a
  secret is keyed with a per-user key that is not in the results folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import pickle
from pathlib import Path

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.cli import main
from rag_rerankers.config import redact_spec
from rag_rerankers.errors import ConfigError
from rag_rerankers.evaluation import compare, evaluate
from rag_rerankers.evaluation.report import comparison_table, result_table
from rag_rerankers.evaluation.runner import spec_label

from eval.helpers import tiny_dataset
from reliability.helpers import exception_texts

KEY = "sk-canary-5e1f77"
OTHER_KEY = "sk-canary-0a9c33"
METRICS = ["nDCG@10", "MRR@10"]

# Specs that hold KEY somewhere other than a plain top-level ``api_key=`` option.
NESTED = [
    f"bm25?fallbacks=jina%3Fapi_key%3D{KEY}",
    f"bm25?fallbacks=jina%3Ftop_n%3D2%26api_key%3D{KEY}",
    f"bm25?fallbacks=bm25%3Ffallbacks%3Djina%253Fapi_key%253D{KEY}",  # nested twice
    f"bm25?fallbacks=bm25%3Ffallbacks%3Dbm25%253Ffallbacks%253Djina%25253Fapi_key%25253D{KEY}",
    f"bm25?fallbacks=jina%3Fapi_key%3D{KEY}%20%7C%20bm25",  # a chain inside the value
    f"bm25 | jina?api_key={KEY}",
    f"bm25 | bm25?fallbacks=jina%3Fapi_key%3D{KEY} | bm25",
    f"bm25?k1=1.2 | jina?top_n=3&api_key={KEY} | bm25",
]


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch) -> Path:
    """The per-user resume key goes to a throwaway home, never the real one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def clean(*texts: str) -> bool:
    return all(KEY not in t and OTHER_KEY not in t for t in texts)


def _check_exception(exc: BaseException) -> None:
    assert clean(*exception_texts(exc))
    assert KEY.encode() not in pickle.dumps(exc)


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_text("utf-8") for p in sorted(folder.rglob("*")) if p.is_file()
                     and p.suffix in (".json", ".jsonl", ".csv"))


def _render(table) -> str:  # noqa: ANN001 - rich.table.Table
    from rich.console import Console

    console = Console(record=True, width=400, file=io.StringIO())
    console.print(table)
    return console.export_text()


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + "\n" + err.getvalue()


# --------------------------------------------------------------------------- redaction
@pytest.mark.parametrize("spec", NESTED)
def test_redact_spec_hides_keys_at_any_depth(spec: str) -> None:
    shown = redact_spec(spec)
    assert clean(shown), shown
    assert shown.startswith("bm25") and "***" in shown


@pytest.mark.parametrize(
    "spec",
    [
        f"tei?fallbacks=jina%3Fclient_secret%3D{KEY}",
        f"tei?fallbacks=jina%3Faccess_token%3D{KEY}%26top_n%3D1",
        f"tei?fallbacks=x%3Fpassword%3D{KEY}",
        f"tei?fallbacks=x%3Fauth_header%3D{KEY}",
        f"cohere?api_%6Bey={KEY}",  # the option name itself percent-encoded
        f"cohere?top_n=1?api_key={KEY}",  # '?' typed for '&': inside top_n's value
        f"cohere api_key={KEY}",  # no '?' at all
    ],
)
def test_redact_spec_any_secret_looking_name(spec: str) -> None:
    assert clean(redact_spec(spec)), redact_spec(spec)


def test_redact_spec_keeps_what_is_not_secret() -> None:
    spec = "cohere:rerank-v3.5?max_tokens_per_doc=512&top_n=3&fallbacks=bm25%3Fk1%3D1.2"
    assert redact_spec(spec) == spec
    assert redact_spec("bm25?k1=1.2 | bm25") == "bm25?k1=1.2 | bm25"
    assert redact_spec(f"bm25?fallbacks=jina%3Fapi_key%3D{KEY}%26top_n%3D2&k1=1") == (
        "bm25?fallbacks=jina%3Fapi_key%3D***%26top_n%3D2&k1=1")


@pytest.mark.parametrize(
    ("spec", "overrides"),
    [
        (f"bm25?fallbacks=jina%3Fapi_key%3D{KEY}&top_n=1&top_n=2", {}),
        (f"bm25?top_n=1&top_n=2&fallbacks=jina%3Fx%3D1%26api_key%3D{KEY}", {}),
        (f"bm25?fallbacks=bm25%3Ffallbacks%3Djina%253Fapi_key%253D{KEY}&top_n=1&top_n=2", {}),
        (f"bm25?fallbacks=bm25%3Ffallbacks%3Djina%253Fapi_key%253D{KEY}"
         "%2526top_n%253D1%2526top_n%253D2", {}),  # the error is two levels down
        (f"bm25?top_n=1 | bm25?fallbacks=jina%3Fapi_key%3D{KEY} | bm25?top_n=2", {}),
        (f"bm25 | jina?api_key={KEY}&top_n=1&top_n=2", {}),
        (f"bm25?top_n=1 | jina?api_key={KEY}&top_n=2", {}),
        (f"cohere?api_%6Bey={KEY}&top_n=1&top_n=2", {}),
        (f"cohere api_key={KEY}", {}),
        ("cohere?top_n=1&top_n=2", {"api_key": KEY}),
        ("cohere?top_n=abc", {"api_key": KEY}),
        ("cohere?nope=1", {"api_key": KEY}),
        ("cohere?top_n=1 | bm25?top_n=2", {"api_key": KEY}),
        ("bm25", {"fallbacks": f"bm25?fallbacks=jina%3Fapi_key%3D{KEY}&top_n=1&top_n=2"}),
    ],
)
def test_config_errors_never_show_nested_keys(spec: str, overrides: dict) -> None:
    with pytest.raises(ConfigError) as info:
        init_reranker(spec, **overrides)
    _check_exception(info.value)


# --------------------------------------------------------------------------- eval outputs
def test_eval_labels_files_and_tables_never_show_nested_keys(tmp_path: Path, caplog) -> None:
    specs = [*NESTED[:3], NESTED[5], f"nope?fallbacks=jina%3Fapi_key%3D{KEY}"]
    labels = [spec_label(s) for s in specs]
    assert clean(*labels), labels
    out = tmp_path / "out"
    cmp = compare(specs, tiny_dataset(2), METRICS, out_dir=out, progress=False, plots=False)
    assert len(cmp.results) == 5 and len(cmp.errors) == 1  # the nested specs really ran
    assert (out / "per_query.jsonl").exists() and (out / "compare.csv").exists()
    assert clean(_files_text(out), _render(comparison_table(cmp)), caplog.text,
                 json.dumps(cmp.to_dict(), default=str))
    for r in cmp.results:
        assert clean(_render(result_table(r, cmp.dataset)))


def test_cli_eval_and_compare_never_show_nested_keys(tmp_path: Path) -> None:
    data = ["--dataset", "sample", "--limit", "2", "--no-progress"]
    texts = []
    code, text = _cli(["compare", NESTED[1], NESTED[6], f"nope?fallbacks=jina%3Fapi_key%3D{KEY}",
                       *data, "--no-plots", "--out", str(tmp_path / "cmp")])
    assert code == 1 and "not evaluated: nope?fallbacks=" in text  # the failing spec
    texts.append(text)
    for extra in ([], ["--json"]):
        code, text = _cli(["eval", "--reranker", NESTED[2], *data, *extra,
                           "--out", str(tmp_path / "eval")])
        assert code == 0
        texts.append(text)
    code, text = _cli(["eval", "--reranker", f"{NESTED[0]}&top_n=1&top_n=2", *data])
    assert code == 2 and "error: ConfigError" in text  # the CLI's error line
    texts.append(text)
    assert clean(*texts, _files_text(tmp_path)), texts


# --------------------------------------------------------------------------- resume
def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_evaluate_resumes_a_fallback_chain(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    ds = tiny_dataset(3)
    first = evaluate("bm25?k1=1.2 | bm25", ds, METRICS, results_path=path, progress=False)
    again = evaluate("bm25?k1=1.2 | bm25", ds, METRICS, results_path=path, progress=False)
    assert len(_lines(path)) == 3  # nothing was run twice
    assert again.metrics == first.metrics and again.rankings == first.rankings
    assert (again.backend, again.label) == ("bm25", "bm25?k1=1.2 | bm25")


def test_cli_eval_out_resumes_a_fallback_chain(tmp_path: Path) -> None:
    args = ["eval", "--reranker", "bm25?k1=1.2 | bm25", "--dataset", "sample", "--limit", "3",
            "--out", str(tmp_path), "--no-progress", "--json"]
    assert _cli(args)[0] == 0
    code, text = _cli(args)
    assert code == 0, text
    assert len(_lines(tmp_path / "per_query.jsonl")) == 3


def test_different_specs_never_share_stored_records(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    ds = tiny_dataset(2)

    def run(spec: str) -> int:
        evaluate(spec, ds, METRICS, results_path=path, progress=False)
        return len(_lines(path))

    # Chains that differ only after a key: the old label hid everything after 'api_key='.
    assert run(f"bm25 | jina?api_key={KEY} | bm25?k1=0.5") == 2
    assert run(f"bm25 | jina?api_key={KEY} | bm25?k1=2.0") == 4
    # Specs that differ only in the key: one label shown, two runs stored.
    assert run(f"bm25 | jina?api_key={OTHER_KEY}") == 6
    assert run(f"bm25 | jina?api_key={KEY}") == 8
    assert spec_label(f"bm25 | jina?api_key={KEY}") == spec_label(
        f"bm25 | jina?api_key={OTHER_KEY}") == "bm25 | jina?api_key=***"
    # ... and each of them still resumes.
    assert run(f"bm25 | jina?api_key={KEY}") == 8
    assert run(f"bm25 | jina?api_key={KEY} | bm25?k1=0.5") == 8
    records = _lines(path)
    assert len({r["run_id"] for r in records}) == 4
    text = path.read_text()
    assert clean(text)
    for key in (KEY, OTHER_KEY):  # no plain hash of a key either
        assert hashlib.sha256(key.encode()).hexdigest()[:16] not in text


def test_secret_spec_resume_key_is_keyed_outside_the_results_folder(
        tmp_path: Path, monkeypatch, _private_home: Path) -> None:
    out = tmp_path / "out"
    path = out / "per_query.jsonl"
    ds = tiny_dataset(2)
    spec = f"bm25?fallbacks=jina%3Fapi_key%3D{KEY}"
    evaluate(spec, ds, METRICS, results_path=path, progress=False)
    evaluate("bm25", ds, METRICS, results_path=path, progress=False)
    assert len(_lines(path)) == 4
    keyfile = _private_home / ".cache" / "rag-rerankers" / "resume-key"
    assert keyfile.is_file() and (keyfile.stat().st_mode & 0o777) == 0o600
    assert not any(p.name == "resume-key" for p in out.rglob("*"))
    # Another user (another per-user key) cannot match the stored record to the key: the
    # secret spec runs again; a spec without a secret still resumes anywhere.
    other_home = tmp_path / "other-home"
    other_home.mkdir()
    monkeypatch.setenv("HOME", str(other_home))
    evaluate("bm25", ds, METRICS, results_path=path, progress=False)
    assert len(_lines(path)) == 4
    assert not (other_home / ".cache").exists()  # no key file is made for a spec without secret
    evaluate(spec, ds, METRICS, results_path=path, progress=False)
    assert len(_lines(path)) == 6


def test_records_without_a_resume_key_are_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    ds = tiny_dataset(2)
    evaluate("bm25", ds, METRICS, results_path=path, progress=False)
    # A record as written before resume keys existed: the label alone was ambiguous.
    old = [{k: v for k, v in r.items() if k != "run_id"} for r in _lines(path)]
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    evaluate("bm25", ds, METRICS, results_path=path, progress=False)
    assert len(_lines(path)) == 4
