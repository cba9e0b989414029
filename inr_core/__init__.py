"""Reconstruction library: tensors in, tensors out. No ISMRMRD or Gadgetron imports here."""
