"""Images as a numpy array (N, H, W) with labels in y: the digits, 20% mislabelled."""

from _digits import noisy_digits, report

from labelclean import SLNCleaner

images, true_labels, noisy_labels = noisy_digits()
cleaner = SLNCleaner(random_state=0, verbose=True).fit(images, noisy_labels)
report(cleaner, true_labels, noisy_labels)
cleaner.save_audit("audit.parquet")
