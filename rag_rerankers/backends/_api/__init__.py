"""The one HTTP discipline shared by every API backend (Cohere, Voyage, Jina, Mixedbread, TEI),
split by concern:

- :mod:`.base`: :class:`~.base.APIReranker`, the options every API backend shares (declared
  once), request batching and the sync/async call paths.
- :mod:`.keys`: keys from the argument or the environment, held as ``pydantic.SecretStr``; a
  missing key fails at construction and names the variable to set.
- :mod:`.errors`: every HTTP status, ``Retry-After`` and request id mapped to a typed
  :class:`~rag_rerankers.errors.RerankAPIError`; the key is never in it.
- :mod:`.responses`: a provider's ``(index, score)`` results checked: no missing, repeated or
  out-of-range index.
- :mod:`.retry`: :class:`~.retry.RetryPolicy`, the only retry layer (the SDKs' own retries are
  off): 429, 408, 5xx, timeouts and connection errors, exponential backoff with full jitter,
  at least what ``Retry-After`` asks; a longer ``Retry-After`` than ``max_backoff`` fails at once.
- :mod:`.http`: ``httpx`` helpers, and :class:`~.http.HTTPXReranker` for providers with no SDK
  (Jina, TEI).
"""
