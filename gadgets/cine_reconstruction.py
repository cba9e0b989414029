"""CineReconstruction: the cine chain as one Gadgetron external target.

CineBuffer -> CoilMaps -> Reconstruction -> ImageExport, composed in-process because the items
between them (``CineSlice``) are not ISMRMRD types and cannot cross a Gadgetron node boundary.
Acquisitions in, images out; every property of the node reaches every stage (each reads its own).
"""

from gadgets.base import Chain
from gadgets.cine_buffer import CineBuffer
from gadgets.coil_maps import CoilMaps
from gadgets.image_export import ImageExport
from gadgets.reconstruction import Reconstruction


class CineReconstruction(Chain):
    stages = (CineBuffer, CoilMaps, Reconstruction, ImageExport)
