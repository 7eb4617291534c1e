"""Feature vectors (N, D), e.g. embeddings from a pretrained network: trained with an MLP."""

from _digits import noisy_digits, report

from labelclean import SLNCleaner

images, true_labels, noisy_labels = noisy_digits()
features = images.reshape(len(images), -1)  # (1797, 64)
cleaner = SLNCleaner(random_state=0).fit(features, noisy_labels)
print("model:", cleaner.config_["model"])
report(cleaner, true_labels, noisy_labels)
