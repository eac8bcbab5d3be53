#!/usr/bin/env node
// Classify one image with an xrbench ONNX file in Node (onnxruntime-node):
//
//   node examples/node/classify.js MODEL.onnx IMAGE.png
//   node examples/node/classify.js MODEL.onnx t10k-images-idx3-ubyte.gz [--index 7]
//
// It does what the model contract asks of an app and nothing more: read the class names and
// image_shape from the file's metadata, turn the image into uint8 pixels of that shape (grey,
// or RGB for an [N, H, W, 3] input), and read `label` and `scores`. Scaling, normalisation
// and flattening are inside the graph. The packages come from the repository's js/ folder
// (`npm ci --ignore-scripts` there), or from $XRBENCH_JS.
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { createRequire } = require("module");

const jsDir = process.env.XRBENCH_JS || path.resolve(__dirname, "..", "..", "js");
const requireJs = createRequire(path.join(jsDir, "package.json"));
const ort = requireJs("onnxruntime-node");
const { PNG } = requireJs("pngjs");
const { Reader } = requireJs("protobufjs/minimal");

// ModelProto.metadata_props (field 14) as {key: value}: the class names, image_shape, layout.
function readMetadata(bytes) {
  const reader = Reader.create(bytes);
  const metadata = {};
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 14 && (tag & 7) === 2) {
      const end = reader.uint32() + reader.pos;
      let key = "";
      let value = "";
      while (reader.pos < end) {
        const inner = reader.uint32();
        if (inner >>> 3 === 1) key = reader.string();
        else if (inner >>> 3 === 2) value = reader.string();
        else reader.skipType(inner & 7);
      }
      metadata[key] = value;
    } else {
      reader.skipType(tag & 7);
    }
  }
  return metadata;
}

// One image of an IDX file (MNIST's format, optionally gzipped): {width, height, channels, data}.
function readIdx(file, index) {
  let bytes = fs.readFileSync(file);
  if (file.endsWith(".gz")) bytes = zlib.gunzipSync(bytes);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    throw new Error(`${file}: not an IDX file of unsigned bytes (magic ${bytes.subarray(0, 4).toString("hex")})`);
  }
  const ndim = bytes[3];
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(bytes.readUInt32BE(4 + 4 * i));
  if (ndim !== 3 && !(ndim === 4 && dims[3] === 3)) {
    throw new Error(`${file}: expected images [N, H, W] or [N, H, W, 3], got dims [${dims}]`);
  }
  const [n, height, width] = dims;
  const channels = ndim === 4 ? 3 : 1;
  if (index < 0 || index >= n) throw new Error(`${file}: --index ${index} is not in [0, ${n})`);
  const size = height * width * channels;
  const start = 4 + 4 * ndim + index * size;
  return { width, height, channels, data: new Uint8Array(bytes.subarray(start, start + size)) };
}

// A PNG as RGB (alpha composited over black, as the pad of the demo page draws).
function readPng(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const data = new Uint8Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) {
    const alpha = png.data[4 * i + 3] / 255;
    for (let c = 0; c < 3; c++) data[3 * i + c] = Math.round(png.data[4 * i + c] * alpha);
  }
  return { width: png.width, height: png.height, channels: 3, data };
}

// Bilinear resize (pixel centres aligned) of an interleaved uint8 image.
function resize(image, width, height) {
  if (image.width === width && image.height === height) return image;
  const { channels } = image;
  const data = new Uint8Array(width * height * channels);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, image.height - 1), wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, image.width - 1), wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const at = (yy, xx) => image.data[(yy * image.width + xx) * channels + c];
        const top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
        const bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
        data[(y * width + x) * channels + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, channels, data };
}

// Grey (ITU-R 601 luma, as PIL's "L") or RGB, as the model's layout asks.
function toChannels(image, channels) {
  if (image.channels === channels) return image.data;
  const n = image.width * image.height;
  const out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    if (channels === 1) {
      const [r, g, b] = image.data.subarray(3 * i, 3 * i + 3);
      out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    } else {
      out.fill(image.data[i], 3 * i, 3 * i + 3);
    }
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf("--index");
  const index = at >= 0 ? Number(args.splice(at, 2)[1]) : 0;
  const json = args.includes("--json");
  const [modelPath, imagePath] = args.filter((a) => a !== "--json");
  if (!modelPath || !imagePath || !Number.isInteger(index)) {
    console.error("usage: node classify.js MODEL.onnx IMAGE.png|IMAGES.idx[.gz] [--index N] [--json]");
    process.exit(2);
  }
  const bytes = fs.readFileSync(modelPath);
  const metadata = readMetadata(bytes);
  const classNames = metadata.class_names ? JSON.parse(metadata.class_names) : null;
  const [height, width] = JSON.parse(metadata.image_shape || "[28, 28]");
  const channels = metadata.input_layout === "NHWC" ? 3 : 1;
  const isPng = imagePath.toLowerCase().endsWith(".png");
  const image = resize(isPng ? readPng(imagePath) : readIdx(imagePath, index), width, height);
  const pixels = toChannels(image, channels);
  const dims = channels === 3 ? [1, height, width, 3] : [1, height, width];
  const session = await ort.InferenceSession.create(new Uint8Array(bytes));
  const out = await session.run({ image: new ort.Tensor("uint8", pixels, dims) });
  const label = Number(out.label.data[0]);
  const scores = Array.from(out.scores.data);
  const name = classNames ? String(classNames[label]) : String(label);
  if (json) {
    console.log(JSON.stringify({ label, class_name: name, scores }));
    return;
  }
  console.log(`${path.basename(modelPath)}: ${name} (class ${label}), score ${scores[label].toFixed(4)}`);
  const order = scores.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0]).slice(0, 3);
  for (const [s, i] of order) console.log(`  ${classNames ? classNames[i] : i}: ${s.toFixed(4)}`);
}

main().catch((error) => {
  console.error(`classify.js: error: ${(error && error.message) || error}`);
  process.exit(1);
});
