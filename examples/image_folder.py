"""An image folder in torchvision's ImageFolder layout: one sub-folder per class."""

import tempfile
from pathlib import Path

import numpy as np
from _digits import noisy_digits, report
from PIL import Image

from labelclean import SLNCleaner

images, true_labels, noisy_labels = noisy_digits()
root = Path(tempfile.mkdtemp(prefix="labelclean-folder-"))
true_by_path = {}
for i, (image, label) in enumerate(zip(images, noisy_labels, strict=True)):
    path = root / f"digit_{label}" / f"{i:04d}.png"
    path.parent.mkdir(exist_ok=True)
    Image.fromarray((image * 255 / 16).astype(np.uint8)).save(path)
    true_by_path[str(path)] = f"digit_{true_labels[i]}"
print(f"wrote {len(images)} images under {root}")

cleaner = SLNCleaner(random_state=0, verbose=True).fit(root)
audit = cleaner.audit()  # rows follow the sorted file order; `source` is the path
truth = audit["source"].map(true_by_path).to_numpy()
report(cleaner, truth, audit["given_label"].to_numpy())
cleaner.save_audit(root / "audit.parquet")
print("predict on the folder itself:", cleaner.predict(root)[:10])
