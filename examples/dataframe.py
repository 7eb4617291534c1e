"""A pandas DataFrame of image paths and string labels (and one of numeric features)."""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _digits import noisy_digits, report
from PIL import Image

from labelclean import SLNCleaner

images, true_labels, noisy_labels = noisy_digits()
names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
folder = Path(tempfile.mkdtemp(prefix="labelclean-df-"))
paths = []
for i, image in enumerate(images):
    path = folder / f"{i:04d}.png"
    Image.fromarray((image * 255 / 16).astype(np.uint8)).save(path)
    paths.append(str(path))
df = pd.DataFrame({"path": paths, "label": names[noisy_labels]})

cleaner = SLNCleaner(random_state=0).fit(df, image_column="path", label_column="label")
print("classes_:", cleaner.classes_)
report(cleaner, names[true_labels], names[noisy_labels])

# Numeric feature columns with a label column work the same way.
features = pd.DataFrame(images.reshape(len(images), -1)).add_prefix("px")
features["label"] = names[noisy_labels]
print(
    "features accuracy on the given labels:",
    SLNCleaner(random_state=0).fit(features).score(features),
)
