"""The BERT sentence encoder: texts in, L2-normalised mean-pooled vectors out.

Used by the embeddings pipeline (``adopt.embeddings.pipeline``, one encoder per
Ray actor) and directly by anyone who wants vectors for a few texts. Loads any
BERT-family folder in Hugging Face layout with ``transformers`` and reproduces
sentence-transformers' mean pooling, but does less work: identical texts are
encoded once, all texts are tokenised in one call, batches are cut from texts
sorted by token count (little padding). On a CPU the batches are spread over
``threads`` streams, each a Python thread whose torch ops run single-threaded:
the GEMMs of a small BERT split poorly over OpenMP threads, and every op's
barrier stalls when the cores are shared with other processes (measured: half
the CPU time of torch's own 2-thread ops, 2.4x the throughput on a loaded
2-core machine). The matrix products run in bf16 under autocast where the
hardware multiplies bf16 natively (GPUs; CPUs with AVX512_BF16 or AMX: about
2x fp32 there, cosine >= 0.9999 to the fp32 vectors); ``precision="fp32"``
keeps every op in fp32. On a GPU it runs one stream with large batches.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from adopt.embeddings.models import max_seq_length, model_id, resolve_model
from adopt.exceptions import InputError, ParameterError
from adopt.progress import Progress

CPU_BATCH_SIZE = 32
GPU_BATCH_SIZE = 256
# Beyond this many streams the GIL (held between ops) starts to bind; more
# threads then go to each stream's ops instead.
MAX_CPU_STREAMS = 8
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_precision(precision: str, owner: str) -> None:
    """Raise a one-line `ParameterError` unless `precision` is one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ParameterError(
            f"The 'precision' parameter of {owner} must be one of {list(PRECISIONS)}. "
            f"Got {precision!r} instead."
        )


@functools.cache  # the CPU does not change; every encode call asks
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (x86 AVX512_BF16 or AMX, Arm BF16).

    Without it, bf16 matrix products are emulated and slower than fp32.
    """
    get = getattr(torch.cpu, "get_capabilities", None)
    if get is not None:
        caps = get()
        return any(bool(caps.get(flag)) for flag in ("avx512_bf16", "amx_bf16", "bf16"))
    try:  # torch < 2.10: no capability query; Linux lists the flags
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Encoder:
    """A BERT-family model that turns texts into unit vectors.

    Parameters
    ----------
    model : str, path-like or None
        Local model folder in Hugging Face layout; None for the bundled
        all-MiniLM-L6-v2. Hub ids are refused (nothing is downloaded).
    device : str or None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; None picks a GPU when there is one.
    max_length : int or None
        Token limit per text (longer texts are truncated); None uses the
        model's own (``sentence_bert_config.json``, else its position limit).
    threads : int or None
        CPU threads to use; None for ``torch.get_num_threads()`` at each
        `encode` call. They run up to 8 streams of single-threaded forward
        passes in parallel (see the module docstring). While `encode` runs,
        torch's process-wide intra-op thread count is lowered to match, and
        restored afterwards.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Dtype of the matrix products. ``"auto"``: bf16 autocast on a GPU that
        supports it (else fp16) and on a CPU that multiplies bf16 natively
        (AVX512_BF16, AMX), fp32 elsewhere. ``"fp32"``: every op in fp32, the
        vectors sentence-transformers gives to ~1e-6. ``"bf16"`` / ``"fp16"``:
        autocast to that dtype on any device. Layer norms, softmax and the
        pooling stay in fp32 under autocast.

    Attributes
    ----------
    path : Path
        The model folder.
    model_id : str
        Names the vectors this encoder produces (see ``models.model_id``).
    dim : int
        Vector length.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        max_length: int | None = None,
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ParameterError(
                "The 'threads' parameter of Encoder must be a positive int or "
                f"None. Got {threads!r} instead."
            )
        check_precision(precision, "Encoder")
        self.threads = threads
        self.precision = precision
        self.path = resolve_model(model)
        self.model_id = model_id(self.path)
        self.max_length = int(max_length or max_seq_length(self.path))
        self.device = torch.device(device or default_device())
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        # transformers draws a bar per weight load; one per Ray actor is noise.
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            self.model = AutoModel.from_pretrained(self.path).eval().to(self.device)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.dim = int(self.model.config.hidden_size)

    def encode(
        self,
        texts: str | Sequence[str],
        batch_size: int | None = None,
        normalize_embeddings: bool = True,
        device: str | None = None,
        show_progress_bar: bool | None = None,
    ) -> np.ndarray:
        """Embed `texts`, mean-pooling the last hidden state over real tokens.

        Parameters
        ----------
        texts : str or sequence of str
            One text or many; duplicates are encoded once.
        batch_size : int or None
            Texts per forward pass; None for 32 on CPU, 256 on GPU.
        normalize_embeddings : bool
            Scale each vector to unit L2 norm (then a dot product is the cosine).
        device : str or None
            Move the model to this device first; None keeps the current one.
        show_progress_bar : bool or None
            None shows a bar on a terminal and log lines elsewhere.

        Returns
        -------
        numpy.ndarray
            ``(n, dim)`` float32, row i for ``texts[i]`` (``n = 1`` for one str).
        """
        if isinstance(texts, str):
            texts = [texts]
        if device is not None and torch.device(device) != self.device:
            self.device = torch.device(device)
            self.model.to(self.device)
        on_gpu = self.device.type == "cuda"
        if batch_size is None:
            batch_size = GPU_BATCH_SIZE if on_gpu else CPU_BATCH_SIZE
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(
                f"The 'batch_size' parameter of Encoder.encode must be a positive int. "
                f"Got {batch_size!r} instead."
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(
                    "texts", None, f"Encoder.encode takes strings; got {type(text).__name__}",
                    row=i + 1,
                )
        unique = list(dict.fromkeys(texts))
        vectors = self._encode_unique(unique, batch_size, show_progress_bar)
        if normalize_embeddings:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.maximum(norms, 1e-12)
        if len(unique) == len(texts):
            return vectors
        position = {text: i for i, text in enumerate(unique)}
        return vectors[[position[text] for text in texts]]

    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype `encode` autocasts to on the current device, None for fp32."""
        name = self.precision
        if name == "auto":
            if self.device.type == "cuda":
                name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            else:
                name = "bf16" if self.device.type == "cpu" and cpu_has_fast_bf16() else "fp32"
        return _AMP_DTYPES.get(name)

    def _encode_unique(
        self, texts: list[str], batch_size: int, show_progress_bar: bool | None
    ) -> np.ndarray:
        """Mean-pooled float32 vectors of distinct `texts`, in their order."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        # Longest first, as sentence-transformers does: an out-of-memory shows at once.
        order = np.argsort(-lengths, kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        on_gpu = self.device.type == "cuda"
        threads = self.threads or torch.get_num_threads()
        streams = 1 if on_gpu else max(1, min(threads, MAX_CPU_STREAMS, len(batches)))
        pad = self.tokenizer.pad_token_id or 0
        amp = self.autocast_dtype()
        lock = threading.Lock()  # Progress is not thread-safe

        # Autocast keeps its casts of the weights for as long as it is entered,
        # but not under inference_mode (which then recasts every weight per batch).
        no_grad = torch.inference_mode if amp is None else torch.no_grad

        def run(stream: int, bar: Progress) -> None:
            # Grad modes and autocast are thread-local: enter them in each stream,
            # once for all of its batches.
            with no_grad(), torch.autocast(
                self.device.type, dtype=amp or torch.bfloat16, enabled=amp is not None
            ):
                for rows in batches[stream::streams]:
                    input_ids, mask = _pad(ids, lengths, rows, pad)
                    out[rows] = self._pool(input_ids, mask)
                    with lock:
                        bar.update(len(rows))

        before = torch.get_num_threads()
        with Progress(len(texts), "embed", unit="texts", show=show_progress_bar) as bar:
            if on_gpu:
                run(0, bar)
                return out
            # Set before the stream threads start: each reads it at its first op.
            torch.set_num_threads(max(1, threads // streams))
            try:
                if streams == 1:
                    run(0, bar)
                else:
                    with ThreadPoolExecutor(streams, thread_name_prefix="adopt-embed") as pool:
                        for future in [pool.submit(run, k, bar) for k in range(streams)]:
                            future.result()
            finally:
                torch.set_num_threads(before)
        return out

    def _pool(self, input_ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        """Mean of the last hidden state over the tokens `mask` marks."""
        input_ids = input_ids.to(self.device, non_blocking=True)
        mask = mask.to(self.device, non_blocking=True)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(torch.float32)
        summed = (hidden.float() * weights).sum(dim=1)
        pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
        return pooled.cpu().numpy()


def _pad(
    ids: list[list[int]], lengths: np.ndarray, rows: np.ndarray, pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of `rows`, padded to the longest of them."""
    width = int(lengths[rows].max())
    input_ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, row in enumerate(rows):
        n = lengths[row]
        input_ids[j, :n] = ids[row]
        mask[j, :n] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(mask)
