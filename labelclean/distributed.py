"""Data parallelism with torch.distributed: every rank holds the data, trains a shard of each batch.

Launched by ``torchrun``, :func:`init_from_env` joins the process group (NCCL on
GPUs, gloo on CPUs). All ranks draw the same random numbers (batches, augmentation,
label noise) for the *global* batch and each trains its own slice, so a run on N
processes follows the single-process run with the same global batch; gradients are
averaged by DDP and BatchNorm statistics after every step, which keeps the model and
the momentum model identical on every rank.
"""

from __future__ import annotations

import atexit
import inspect
import os

import torch
import torch.distributed as dist


def init_from_env() -> bool:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); True if distributed."""
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    # Leave the group before the interpreter tears down: a gloo group still alive at exit can
    # abort the process ("terminate called without an active exception") after its work is done.
    atexit.register(_leave_group)
    return True


def _leave_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Whether this process writes files (rank 0, or the only process)."""
    return rank() == 0


def local_device() -> torch.device:
    """This rank's GPU under torchrun, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DDP around ``model``: rank 0's weights everywhere, buffers not re-sent at every forward.

    Buffers (BatchNorm statistics) are averaged after each step instead, see :func:`average_buffers`.
    """
    from torch.nn.parallel import DistributedDataParallel

    options = {"device_ids": [device] if device.type == "cuda" else None}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        options["forward_sync_buffers"] = False
    else:  # torch releases before the rename
        options["broadcast_buffers"] = False
    return DistributedDataParallel(model, **options)


def broadcast_int(value: int) -> int:
    """Rank 0's ``value`` on every rank (e.g. a seed drawn from fresh entropy)."""
    if not is_distributed():
        return value
    box = torch.tensor([value], dtype=torch.int64, device=local_device())
    dist.broadcast(box, src=0)
    return int(box.item())


def shard(n: int) -> slice:
    """This rank's contiguous slice of ``n`` items (sizes differ by at most one)."""
    size, extra = divmod(n, world_size())
    start = rank() * size + min(rank(), extra)
    return slice(start, start + size + (rank() < extra))


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Concatenate every rank's :func:`shard` of ``n`` rows, in order, on every rank."""
    if not is_distributed():
        return local
    longest = -(-n // world_size())
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    sizes = [n // world_size() + (r < n % world_size()) for r in range(world_size())]
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def average_buffers(module: torch.nn.Module) -> None:
    """Average floating buffers (BatchNorm running statistics) across ranks, in place, in one
    message: a message per buffer at every step costs small networks more than their arithmetic."""
    if not is_distributed():
        return
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    flat = torch.cat([b.reshape(-1) for b in buffers])
    dist.all_reduce(flat)
    flat.div_(world_size())
    for buffer, averaged in zip(buffers, flat.split([b.numel() for b in buffers]), strict=True):
        buffer.copy_(averaged.view_as(buffer))


def barrier() -> None:
    if is_distributed():
        dist.barrier()
