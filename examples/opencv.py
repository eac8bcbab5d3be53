"""Classify one image with an xrbench ONNX file in OpenCV DNN, as a C++ or Python app would.

    python examples/opencv.py MODEL.onnx IMAGE.png

OpenCV reads the FP32 nets (lenet5, mlp, cnn) with their uint8 input; it has no ai.onnx.ml
operators, so the scikit-learn graphs need onnxruntime (see `xrbench consumers`). The app
does only what the model contract asks: resize to the file's image_shape and pass grey (or,
for an [N, H, W, 3] input, RGB) uint8 pixels; scaling and normalisation are in the graph.
The class names and image_shape come from the file's metadata, read with the `onnx` package.
Needs opencv-python-headless (`pip install 'xrbench[apps]'`) and onnx.
"""

from __future__ import annotations

import argparse
import json
import sys

import cv2
import numpy as np
import onnx


def read_metadata(path: str) -> dict[str, str]:
    """The file's metadata_props (class names, image_shape, input_layout, ...)."""
    model = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def load_pixels(image_path: str, height: int, width: int, colour: bool) -> np.ndarray:
    """The image as uint8 [H, W] (grey) or [H, W, 3] (RGB), resized to the model's shape."""
    flag = cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE
    image = cv2.imread(image_path, flag)
    if image is None:
        raise ValueError(f"{image_path}: OpenCV cannot read this image")
    if colour:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # OpenCV decodes to BGR
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image, dtype=np.uint8)


def classify(model_path: str, image_path: str) -> tuple[int, str, np.ndarray]:
    """(label, class name, scores) of one image."""
    metadata = read_metadata(model_path)
    names = json.loads(metadata.get("class_names", "null"))
    height, width = json.loads(metadata.get("image_shape", "[28, 28]"))[:2]
    pixels = load_pixels(image_path, height, width, metadata.get("input_layout") == "NHWC")
    net = cv2.dnn.readNetFromONNX(model_path)
    net.setInput(pixels[None], "image")
    label, scores = net.forward(["label", "scores"])
    index = int(np.asarray(label).ravel()[0])
    return index, str(names[index]) if names else str(index), np.asarray(scores)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an xrbench ONNX file")
    parser.add_argument("image", help="a PNG (or any image OpenCV reads)")
    parser.add_argument("--json", action="store_true", help="print label and scores as JSON")
    args = parser.parse_args(argv)
    try:
        label, name, scores = classify(args.model, args.image)
    except (ValueError, cv2.error) as e:
        print(f"opencv.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"label": label, "class_name": name, "scores": scores.tolist()}))
    else:
        print(f"{args.model}: {name} (class {label}), score {scores[label]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
