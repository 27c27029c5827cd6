"""Annotating texts with energies: batched in length order, mixed precision on CUDA."""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from scipy import special

from eqn_core.method.models import EmbeddedTexts, EnergyModel, TokenizedTexts, TokenStates, texts_fingerprint
from eqn_core.method.parallel import active_group


class RunStopped(Exception):
    """The user asked the run to stop; raised between two batches of any loop that takes should_stop."""


StopCheck = Callable[[], bool]
BatchCallback = Callable[[int, int, float], None]  # on_batch(texts done, texts in all, share of the work done)


def check_stop(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise RunStopped()


def work_fractions(lengths: np.ndarray, batches: list[np.ndarray]) -> np.ndarray:
    """Share of the work done after each batch, counted in padded tokens (batch size x its longest text), so
    progress and time left stay true in length-sorted loops where the last batches are the longest."""
    work = np.array([len(batch) * max(1, int(lengths[batch].max())) for batch in batches], dtype=np.float64)
    return np.cumsum(work) / max(work.sum(), 1.0)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    """/proc/cpuinfo, read once per process ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 matrix units (AMX or AVX512-BF16), where bf16 inference is much faster."""
    flags = _cpuinfo()
    return " amx_bf16" in flags or " avx512_bf16" in flags


def device_name(device: torch.device) -> str:
    """What a report should say the work ran on: GPU model, or CPU model, cores and whether it has bf16 units.

    Speed figures differ by 1.5x between CPUs with and without bf16 units, so reports name which one they had.
    """
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"cpu: {model}, {os.cpu_count()} cores, {bf16}"


def autocast_for(device: torch.device, enabled: bool = True, *, cpu_bf16: bool = False):
    """bf16 autocast on CUDA; on CPU only when asked (inference) and the CPU has native bf16 units.

    Training on CPU stays fp32: autocast there gains little for small models and costs accuracy.
    """
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if enabled and cpu_bf16 and device.type == "cpu" and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def length_ordered_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Indices grouped so each batch holds texts of similar length: little padding, fewer wasted FLOPs."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def outputs_to_energies(outputs: np.ndarray, *, mode: str, scale: float = 10.0) -> np.ndarray:
    """Raw head outputs (N, C) -> energies (N, C) in [0, scale].

    Regression modes clip; the BCE baseline's sigmoid and the softmax baseline's probabilities are
    put on the same 0-10 scale so one threshold slider serves every run (BCE 0.3 = energy 3.0).
    """
    if mode == "bce":
        energies = scale * special.expit(outputs)
    elif mode == "softmax":
        energies = scale * special.softmax(outputs, axis=1)
    else:
        energies = outputs
    return np.clip(energies, 0.0, scale).astype(np.float32)


@torch.inference_mode()
def predict_outputs(model: torch.nn.Module, features, *, batch_size: int = 128, device: torch.device | None = None,
                    amp: bool = True, pooled: bool = False, cpu_bf16: bool = False,
                    on_batch: BatchCallback | None = None, should_stop: StopCheck | None = None) -> np.ndarray:
    """Run the model over all features; returns (N, C) head outputs (or (N, H) pooled vectors) in input order.

    cpu_bf16: bf16 autocast on CPUs with native bf16 units (energies move by ~0.01; see benchmarks/speed.py).
    should_stop: checked before every batch; RunStopped when it says so.
    """
    group = active_group()
    if group is not None and group.splits_inference:  # data-parallel: each process scores its part, then gather
        return group.predict_outputs(predict_outputs, model, features, batch_size=batch_size, device=device, amp=amp,
                                     pooled=pooled, cpu_bf16=cpu_bf16, on_batch=on_batch)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    batches = length_ordered_batches(features.lengths, batch_size)
    fractions = work_fractions(features.lengths, batches) if batches else np.zeros(0)
    result = None
    done = 0
    try:
        for number, indices in enumerate(batches):
            check_stop(should_stop)
            batch = {k: v.to(device, non_blocking=True) for k, v in features.batch(indices).items()}
            with autocast_for(device, amp, cpu_bf16=cpu_bf16):
                values = model.pooled(batch) if pooled else model(batch)
            values = values.float().cpu().numpy()
            if result is None:
                result = np.empty((len(features), values.shape[1]), dtype=np.float32)
            result[indices] = values
            done += len(indices)
            if on_batch:
                on_batch(done, len(features), float(fractions[number]))
    finally:
        model.train(was_training)
    if result is None:
        width = model.head.out_features if not pooled else model.encoder.output_dim
        return np.zeros((0, width), dtype=np.float32)
    return result


def embed_texts(model: EnergyModel, texts: list[str], *, cache_dir: str | Path | None = None, encoder_name: str = "",
                batch_size: int = 128, device: torch.device | None = None, amp: bool = True,
                on_batch: BatchCallback | None = None, should_stop: StopCheck | None = None) -> EmbeddedTexts:
    """Pooled encoder vectors for frozen mode, computed once per (encoder, texts) and cached as .npy."""
    cache_file = None
    if cache_dir is not None:
        key = texts_fingerprint(encoder_name or model.encoder.name_or_path, model.encoder.max_length, texts)
        cache_file = Path(cache_dir) / f"{key}.npy"
        if cache_file.exists():
            return EmbeddedTexts(torch.from_numpy(np.load(cache_file)))
    vectors = predict_outputs(model, model.featurize(texts), batch_size=batch_size, device=device, amp=amp,
                              pooled=True, on_batch=on_batch, should_stop=should_stop)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(partial, vectors)
        os.replace(partial, cache_file)  # atomic: a reader never sees half a file
    return EmbeddedTexts(torch.from_numpy(vectors))


def token_states_bytes(model: EnergyModel, tokens: TokenizedTexts) -> int:
    """What caching these texts' lower-layer token states takes on disk (fp16)."""
    return int(tokens.lengths.sum()) * model.encoder.output_dim * 2


def token_states(model: EnergyModel, tokens: TokenizedTexts, *, texts: list[str], cache_dir: str | Path | None = None,
                 encoder_name: str = "", batch_size: int = 128, device: torch.device | None = None, amp: bool = True,
                 on_batch: BatchCallback | None = None, should_stop: StopCheck | None = None) -> TokenStates:
    """Token states after the fixed lower layers (partial mode), computed once per (encoder, max length, cut, texts).

    Cached in cache_dir as fp16 .npy files read back as memory maps, so the training split's states do not have to
    fit in memory twice; the files appear atomically (a crash leaves no half cache).
    """
    encoder = model.encoder
    folder = None
    if cache_dir is not None:
        name = f"{encoder_name or encoder.name_or_path}|lower {encoder.cut} of {len(encoder.layers)}"
        folder = Path(cache_dir) / texts_fingerprint(name, encoder.max_length, texts)
        if (folder / "offsets.npy").exists():
            return TokenStates(np.load(folder / "states.npy", mmap_mode="r"), np.load(folder / "offsets.npy"))
    lengths = tokens.lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # (N + 1,)
    shape = (int(offsets[-1]), encoder.output_dim)
    partial = None
    if folder is not None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        partial.mkdir(exist_ok=True)
        states = np.lib.format.open_memmap(partial / "states.npy", mode="w+", dtype=np.float16, shape=shape)
    else:
        states = np.empty(shape, dtype=np.float16)
    device = device or next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()
    done = 0
    batches = length_ordered_batches(lengths, batch_size)
    fractions = work_fractions(lengths, batches) if batches else np.zeros(0)
    try:
        with torch.inference_mode():
            for number, indices in enumerate(batches):
                check_stop(should_stop)
                batch = {k: v.to(device) for k, v in tokens.batch(indices).items()}
                with autocast_for(device, amp):
                    hidden = encoder.lower_states(batch["input_ids"], batch["attention_mask"])  # (B, T, H)
                hidden = hidden.to(torch.float16).cpu().numpy()
                for row, index in enumerate(indices):
                    states[offsets[index]:offsets[index + 1]] = hidden[row, : lengths[index]]
                done += len(indices)
                if on_batch:
                    on_batch(done, len(lengths), float(fractions[number]))
    except BaseException:  # stopped or failed: no half cache left behind
        if partial is not None:
            del states
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        model.train(was_training)
    if partial is None:
        return TokenStates(states, offsets)
    states.flush()
    del states
    np.save(partial / "offsets.npy", offsets)
    try:
        os.replace(partial, folder)  # atomic: a reader sees the whole cache or none
    except OSError:  # another process cached the same texts first: use theirs
        shutil.rmtree(partial, ignore_errors=True)
    return TokenStates(np.load(folder / "states.npy", mmap_mode="r"), np.load(folder / "offsets.npy"))


def annotate(model: EnergyModel, texts: list[str], *, mode: str, batch_size: int = 128, device: torch.device | None = None,
             amp: bool = True, cpu_bf16: bool = False, energy_scale: float = 10.0,
             on_batch: BatchCallback | None = None, should_stop: StopCheck | None = None) -> np.ndarray:
    """Energies (N, C) in [0, 10] for any texts, through the full model (encoder + head)."""
    features: TokenizedTexts = model.featurize(list(texts))
    outputs = predict_outputs(model, features, batch_size=batch_size, device=device, amp=amp, cpu_bf16=cpu_bf16,
                              on_batch=on_batch, should_stop=should_stop)
    return outputs_to_energies(outputs, mode=mode, scale=energy_scale)
