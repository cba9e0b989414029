"""The Generalized INR, all of it: the method (``method``: load the weights, reconstruct), its inputs and
training samples (``data``), and its training (``training``, reached as ``GenInr.train``). The network is
``inr_core.nn.gen_inr_net``; the shipped weights are package data in ``inr_core/methods/inr/weights/``."""
