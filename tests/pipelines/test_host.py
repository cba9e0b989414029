"""The embedded host: parses the shipped Gadgetron configurations and runs them in-process."""

import ismrmrd
import numpy as np
import pytest
from pipeline_helpers import TEST_METHOD, helpers, make_header

from pipelines.errors import UserError
from pipelines.host import CONFIG_DIR, Pipeline, parse_config, parse_overrides, resolve_config

STREAM = """<?xml version="1.0"?>
<configuration><version>2</version><stream>{}</stream></configuration>"""


def external(module, target, props=""):
    return (f'<external><execute name="{module}" target="{target}" type="python"/>'
            f"<configuration>{props}</configuration></external>")


@pytest.mark.parametrize("name, method", [("cartesian", "l-plus-s"), ("radial", "grasp")])
def test_shipped_configs_parse(name, method):
    pipeline = Pipeline.load(name)
    assert [n.module for n in pipeline.nodes] == ["gadgets.noise", "gadgets.oversampling",
                                                  "gadgets.cine_reconstruction"]
    assert pipeline.properties["method"] == method
    assert resolve_config(name) == CONFIG_DIR / f"{name}.xml"


def test_overrides_go_to_the_reconstruction_node():
    pipeline = Pipeline.load("cartesian", {"method": "cg-sense", "device": "cpu", "iterations": "3"})
    assert pipeline.nodes[-1].properties["method"] == "cg-sense"
    assert pipeline.nodes[-1].properties["iterations"] == "3"
    assert "method" not in pipeline.nodes[0].properties


def test_modules_outside_the_gadgets_package_are_refused():
    with pytest.raises(UserError, match="not inside the 'gadgets' package"):
        Pipeline(parse_config(STREAM.format(external("os", "system"))))
    with pytest.raises(UserError, match="not inside"):
        Pipeline(parse_config(STREAM.format(external("gadgetsx.evil", "X"))))


@pytest.mark.parametrize("body, match", [
    ("<gadget><name>X</name><dll>d</dll><classname>C</classname></gadget>", "need Gadgetron"),
    ('<external><connect port="18000"/><configuration/></external>', "execute"),
    ("", "no nodes"),
])
def test_unsupported_nodes_are_refused(body, match):
    with pytest.raises(UserError, match=match):
        parse_config(STREAM.format(body))


def test_bad_xml_and_unknown_pipeline_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not valid XML"):
        parse_config("<configuration>")
    with pytest.raises(UserError, match="unknown pipeline"):
        resolve_config("spiral")
    with pytest.raises(UserError, match="does not exist"):
        resolve_config(str(tmp_path / "missing.xml"))
    with pytest.raises(UserError, match="key=value"):
        parse_overrides(["novalue"])


@pytest.mark.timeout(120)
def test_pipeline_runs_acquisitions_to_images():
    n, frames, coils = 16, 3, 2
    truth = helpers.disc_cine(frames, n, n)
    acqs = helpers.cartesian_cine(truth, helpers.smooth_maps(coils, n, n), np.ones((frames, n), bool))
    noise = [helpers.make_acq((np.random.default_rng(0).standard_normal((coils, 64)) + 0j) * 1e-3,
                              flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])]
    pipeline = Pipeline.load("cartesian", {"method": TEST_METHOD, "device": "cpu", "calibration_width": "16"})
    images = list(pipeline.run(make_header(nx=n, ny=n, channels=coils, phases=frames), noise + acqs))
    assert [im.phase for im in images] == [0, 1, 2]
    assert all(im.matrix_size == (n, n, 1) for im in images)


def test_a_custom_config_file_with_one_gadget(tmp_path):
    path = tmp_path / "passthrough.xml"
    path.write_text(STREAM.format(external("gadgets.oversampling", "RemoveReadoutOversampling")))
    acq = helpers.make_acq(np.ones((2, 32)))
    (out,) = Pipeline.load(str(path)).run(make_header(nx=16, oversampling=2), [acq])
    assert out.number_of_samples == 16
