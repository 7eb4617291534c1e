"""scikit-learn's own estimator checks, every one, on a small SLNCleaner (a few epochs, so they stay quick).

``__sklearn_tags__`` declares what is true of SLNCleaner (3-D arrays accepted, no sparse
input, no NaN, non-deterministic only on a GPU); no check is skipped or expected to fail.
"""

import torch
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from labelclean import SLNCleaner


@parametrize_with_checks([SLNCleaner(epochs=3, random_state=0)])
def test_scikit_learn_check(estimator, check):
    check(estimator)


def test_tags_say_what_is_true_of_the_estimator():
    tags = get_tags(SLNCleaner())
    assert tags.estimator_type == "classifier" and tags.target_tags.required
    assert tags.input_tags.two_d_array and tags.input_tags.three_d_array
    assert not tags.input_tags.sparse and not tags.input_tags.allow_nan
    assert tags.non_deterministic == torch.cuda.is_available()  # "auto" trains on a GPU when there is one
    assert not get_tags(SLNCleaner(device="cpu")).non_deterministic
    assert get_tags(SLNCleaner(device="cuda")).non_deterministic
