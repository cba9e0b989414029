"""Every packaged stream configuration is well-formed XML to a strict parser (lxml: e.g. no "--"
inside a comment, which cartesian_worker.xml once had) and what the embedded host can run; a
<connect> node, which only Gadgetron runs, is refused with a clear error."""

from pathlib import Path

import pytest
from lxml import etree

from pipelines.errors import UserError
from pipelines.streaming.host import CONFIG_DIR, Node, Pipeline

CONFIGS = sorted(CONFIG_DIR.glob("*.xml"))


def test_configs_are_packaged():
    assert {p.name for p in CONFIGS} >= {"cartesian.xml", "radial.xml", "cartesian_worker.xml",
                                         "cartesian_distributed.xml", "radial_distributed.xml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_is_strict_xml_and_loads(path: Path):
    root = etree.parse(str(path), etree.XMLParser(recover=False, resolve_entities=False)).getroot()
    assert root.tag == "configuration" and root.findtext("version") == "2"
    nodes = root.find("stream")
    assert nodes is not None and len(nodes) > 0
    inner = [n for d in nodes.findall("distributed") for n in d.find("stream")]  # <distributed>: its inner stream
    for node in [n for n in nodes if n.tag != "distributed"] + inner:
        assert node.tag == "external"
        execute, connect = node.find("execute"), node.find("connect")
        if execute is not None:
            assert execute.get("type") == "python"
            Node(execute.get("name"), execute.get("target")).gadget_class()  # importable gadget class
        else:
            assert connect is not None and 0 < int(connect.get("port")) < 65536
    has_connect = root.find("stream/external/connect") is not None
    if has_connect:
        with pytest.raises(UserError, match="connect"):
            Pipeline.load(str(path))
    else:
        pipeline = Pipeline.load(str(path))
        assert len(pipeline.nodes) == len(nodes)
