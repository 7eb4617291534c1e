"""A Hugging Face datasets.Dataset: the real CIFAR-10 when $LABELCLEAN_DATA/cifar10 holds it.

Uses 5,000 CIFAR-10 training images with the paper's sym0.4 noisy labels if the data
is there (train.parquet, noise/sym0.4.csv), else builds a small Dataset from the digits.
"""

import datasets
import numpy as np
import pandas as pd
from _digits import noisy_digits, report
from PIL import Image

from labelclean import SLNCleaner
from labelclean.bench.data import data_dir

cifar = data_dir("cifar10")
if (cifar / "train.parquet").exists():
    n = 5000
    ds = datasets.load_dataset("parquet", data_files=str(cifar / "train.parquet"), split="train")
    ds = ds.select(range(n))
    noise = pd.read_csv(cifar / "noise" / "sym0.4.csv").iloc[:n]
    true_labels, noisy_labels = noise["label"].to_numpy(), noise["label_noisy"].to_numpy()
    ds = ds.map(lambda row, i: {"label": int(noisy_labels[i])}, with_indices=True)
    epochs = 15
else:
    images, true_labels, noisy_labels = noisy_digits()
    pil = [Image.fromarray((im * 255 / 16).astype(np.uint8)) for im in images]
    features = datasets.Features(
        {"img": datasets.Image(), "label": datasets.ClassLabel(names=[str(d) for d in range(10)])}
    )
    ds = datasets.Dataset.from_dict({"img": pil, "label": noisy_labels}, features=features)
    epochs = "auto"  # the device's recipe: 40 on the CPU

cleaner = SLNCleaner(epochs=epochs, random_state=0, verbose=True).fit(ds)  # columns found
print("class names:", cleaner.class_names_)
report(cleaner, true_labels, noisy_labels)
