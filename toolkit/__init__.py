"""xrbench: train the classic MNIST-family classifiers, export them to ONNX, measure them all.

Importing this package is cheap on purpose: the heavy stacks (torch, scikit-learn) are
imported only by the modules that train, so the harness runs in an environment without them.
"""

__version__ = "0.1.0"
