"""Data-parallel training with torch.distributed; launch with torchrun.

  torchrun --nproc_per_node=2 examples/distributed.py            # 2 processes (CPU: gloo)
  torchrun --nproc_per_node=8 examples/distributed.py            # 8 GPUs on one machine (NCCL)
  torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 \\
      --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 examples/distributed.py   # per node

Every rank holds the data and trains its slice of each global batch; rank 0
writes the audit. The result follows a single-process run with the same batch_size.
"""

import sys

from sklearn.datasets import load_digits

from labelclean import SLNCleaner
from labelclean.noise import symmetric_noise

out = sys.argv[1] if len(sys.argv) > 1 else "audit.parquet"
X, y = load_digits(return_X_y=True)
noisy = symmetric_noise(y, 0.2, 10, seed=0)
cleaner = SLNCleaner(epochs=20, random_state=0).fit(X, noisy)  # joins the process group itself
cleaner.save_audit(out)  # rank 0 writes
flagged = cleaner.audit()["is_suspicious"].to_numpy()
print(f"flagged {flagged.sum()}, of which truly flipped {(flagged & (noisy != y)).sum()}; wrote {out}")
