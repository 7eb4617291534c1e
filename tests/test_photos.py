"""Camera-sized photos: memory follows the training size, not the files'."""

import json
import subprocess
import sys

from labelclean.bench.photos import make_photo_folder

FIT = """
import json, resource, sys
import labelclean, torch
from labelclean import SLNCleaner
SLNCleaner(epochs=1, random_state=0).fit(sys.argv[2])  # the same work on small photos: imports, buffers
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cleaner = SLNCleaner(epochs=1, random_state=0).fit(sys.argv[1])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_mib": before / 1024, "peak_mib": peak / 1024, "shape": list(cleaner.input_shape_),
                  "rows": len(cleaner.audit())}))
"""


def test_a_folder_of_3000_by_2000_jpegs_fits_in_bounded_memory(tmp_path):
    folder = make_photo_folder(tmp_path / "photos", n=30, size=(3000, 2000), classes=3)
    small = make_photo_folder(tmp_path / "small", n=30, size=(300, 200), classes=3)
    full_size_mib = 30 * 3000 * 2000 * 3 / 2**20  # what decoding at the files' size would hold: 515 MiB
    command = [sys.executable, "-c", FIT, str(folder), str(small)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [3, 32, 32] and result["rows"] == 30
    assert result["peak_mib"] - result["before_mib"] < full_size_mib / 10, result
