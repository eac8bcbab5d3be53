// The xrbench demo: draw a digit (or drop an image) and every model of the run classifies it
// in the browser with onnxruntime-web (WebAssembly). The page does only what the model
// contract asks of an app: resize to the file's image_shape and pass grey or colour uint8
// pixels; casting, scaling and normalisation are inside each graph.
"use strict";

(function () {
  ort.env.wasm.numThreads = 1; // a static host is not cross-origin isolated: one thread
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;

  const canvas = document.getElementById("draw");
  const pen = canvas.getContext("2d", { willReadFrequently: true });
  const state = { models: [], sessions: {}, inputs: {}, runs: 0, busy: false, pending: false };

  function clear() {
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, canvas.width, canvas.height);
  }

  // The drawing resized to the model's [H, W] (grey) or [H, W, 3] (colour), as uint8.
  function pixelsFor(model) {
    const [h, w] = model.image_shape;
    const small = document.createElement("canvas");
    small.width = w;
    small.height = h;
    const ctx = small.getContext("2d", { willReadFrequently: true });
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(canvas, 0, 0, w, h);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const colour = model.layout === "NHWC";
    const out = new Uint8Array(w * h * (colour ? 3 : 1));
    for (let i = 0; i < w * h; i++) {
      const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
      if (colour) {
        out[3 * i] = r;
        out[3 * i + 1] = g;
        out[3 * i + 2] = b;
      } else {
        out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b); // ITU-R 601 luma, as PIL's "L"
      }
    }
    return out;
  }

  function show(model, label, scores) {
    const card = document.querySelector(`.card[data-index="${model.index}"]`);
    const name = model.class_names[label] !== undefined ? model.class_names[label] : String(label);
    card.querySelector(".label").textContent = name;
    card.dataset.labelIndex = String(label);
    let lo = 0, hi = 1;
    if (model.score_kind !== "probabilities") { // decision scores: scaled to the row's range
      lo = Math.min(...scores);
      hi = Math.max(...scores);
    }
    card.querySelectorAll(".bar").forEach((bar, i) => {
      const value = scores[i];
      const share = hi > lo ? Math.min(1, Math.max(0, (value - lo) / (hi - lo))) : 0;
      bar.querySelector(".fill").style.width = `${(share * 100).toFixed(1)}%`;
      bar.querySelector(".value").textContent = value.toFixed(model.score_kind === "probabilities" ? 3 : 2);
      bar.classList.toggle("top", i === label);
    });
  }

  function fail(model, error) {
    const card = document.querySelector(`.card[data-index="${model.index}"]`);
    card.querySelector(".error").textContent = String((error && error.message) || error).slice(0, 300);
  }

  async function classify() {
    if (state.busy) {
      state.pending = true;
      return;
    }
    state.busy = true;
    try {
      do {
        state.pending = false;
        for (const model of state.models) {
          const session = state.sessions[model.index];
          if (!session) continue;
          const pixels = pixelsFor(model);
          state.inputs[model.file] = pixels;
          const tensor = new ort.Tensor("uint8", pixels, [1, ...model.input_shape]);
          try {
            const out = await session.run({ image: tensor });
            show(model, Number(out.label.data[0]), Array.from(out.scores.data));
          } catch (error) {
            fail(model, error);
          }
        }
        state.runs += 1;
      } while (state.pending);
    } finally {
      state.busy = false;
    }
  }

  // Drawing: white strokes on black, as MNIST's digits are.
  let last = null;
  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
  }
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    pen.fillStyle = "#fff";
    pen.beginPath();
    pen.arc(last[0], last[1], pen.lineWidth / 2, 0, 2 * Math.PI);
    pen.fill();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    pen.beginPath();
    pen.moveTo(last[0], last[1]);
    pen.lineTo(next[0], next[1]);
    pen.stroke();
    last = next;
  });
  const end = () => {
    if (!last) return;
    last = null;
    classify();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  // Dropping an image: drawn to fit the pad, on black.
  canvas.addEventListener("dragover", (event) => {
    event.preventDefault();
    canvas.classList.add("over");
  });
  canvas.addEventListener("dragleave", () => canvas.classList.remove("over"));
  canvas.addEventListener("drop", async (event) => {
    event.preventDefault();
    canvas.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    clear();
    const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
    const w = bitmap.width * scale, h = bitmap.height * scale;
    pen.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    classify();
  });

  document.getElementById("clear").addEventListener("click", () => {
    clear();
    document.querySelectorAll(".card .label").forEach((el) => (el.textContent = ""));
    document.querySelectorAll(".card .fill").forEach((el) => (el.style.width = "0"));
  });

  async function start() {
    clear();
    pen.strokeStyle = "#fff";
    pen.lineWidth = Math.round(canvas.width / 10);
    pen.lineCap = "round";
    pen.lineJoin = "round";
    state.models = await (await fetch("models.json")).json();
    for (const model of state.models) {
      try {
        const bytes = new Uint8Array(await (await fetch(`models/${encodeURIComponent(model.file)}`)).arrayBuffer());
        state.sessions[model.index] = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
      } catch (error) {
        fail(model, `cannot load in this browser: ${(error && error.message) || error}`);
      }
    }
    document.getElementById("status").textContent = `${Object.keys(state.sessions).length} of ${state.models.length} models loaded; draw a digit`;
    window.xrbenchDemo.ready = true;
  }

  // For tests and screenshots: what was fed to each model, and whether work is pending.
  window.xrbenchDemo = {
    ready: false,
    runs: () => state.runs,
    idle: () => !state.busy && !state.pending,
    inputs: () => Object.fromEntries(Object.entries(state.inputs).map(([k, v]) => [k, Array.from(v)])),
    shown: () =>
      Array.from(document.querySelectorAll(".card")).map((card) => ({
        file: card.dataset.file,
        label: card.querySelector(".label").textContent,
        error: card.querySelector(".error").textContent,
      })),
    canvasBox: () => {
      const box = canvas.getBoundingClientRect();
      return { x: box.left, y: box.top, width: box.width, height: box.height };
    },
  };
  start().catch((error) => {
    document.getElementById("status").textContent = `failed to start: ${error}`;
  });
})();
