"""``gadgetron-inr methods``: what can be reconstructed, and with which settings.

``--options`` lists every setting with its default: those of the chain's stages (the noise, oversampling,
buffer, coil-map, reconstruction and export gadgets) and each method's options. These are the names
``--set``, a ``--settings`` YAML file, an XML ``<property>`` and a server's JSON parameters take.
"""

from gadgets.cine_buffer import CineBuffer
from gadgets.coil_maps import CoilMaps
from gadgets.image_export import ImageExport
from gadgets.noise import NoisePrewhitening
from gadgets.oversampling import RemoveReadoutOversampling
from gadgets.reconstruction import Reconstruction
from inr_core import settings
from inr_core.methods import list_methods

STAGES = (NoisePrewhitening, RemoveReadoutOversampling, CineBuffer, CoilMaps, Reconstruction, ImageExport)


def add_arguments(parser):
    parser.add_argument("--options", action="store_true",
                        help="also list the chain's settings and each method's options, with defaults")


def _lines(config_cls, indent: str, skip=()) -> list[str]:
    return [f"{indent}{d.name} = {d.default!r}  ({d.type}{'; ' + d.note if d.note else ''})"
            for d in settings.describe(config_cls) if d.name not in skip]


def run(args) -> int:
    if args.options:
        print("chain settings (every node also takes waveforms = 'pass' | 'drop'):")
        for stage in STAGES:
            print(f"  {stage.__name__}")
            for line in _lines(stage.Config, "    ", skip=("waveforms",)):
                print(line)
        print("methods (their options go to the reconstruction stage):")
    for method in list_methods():
        presets = ", ".join(method.presets) or "-"
        print(f"{method.name:12s} {'/'.join(method.trajectories):17s} presets: {presets:20s} {method.summary()}")
        if args.options:
            for line in _lines(method.Config, "    "):
                print(line)
    return 0
