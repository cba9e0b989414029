"""Preview figure: the x-t profile goes through the moving structure; files are written."""

import numpy as np
from pipeline_helpers import helpers

from pipelines.files.preview import heart_pixel, write_preview


def test_heart_pixel_is_on_the_pulsing_disc_not_on_a_flickering_edge():
    cine = np.abs(helpers.disc_cine(8, 32, 32))  # disc centred near (11, 19), radius pulsing
    cine[:, 0, :] = np.random.default_rng(0).random((8, 32)) * 5  # strong flicker outside the central half
    row, col = heart_pixel(cine)
    assert 8 <= row < 24 and 8 <= col < 24
    assert cine[:, row, col].std() > 0


def test_preview_with_and_without_reference(tmp_path):
    cine = helpers.disc_cine(6, 32, 32)
    assert write_preview(tmp_path / "a.png", cine[None]).stat().st_size > 1000
    assert write_preview(tmp_path / "sub" / "b.png", cine, reference=cine * 1.1, title="t").stat().st_size > 1000
