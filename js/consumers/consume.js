// Runs xrbench's ONNX files on one onnxruntime for JavaScript (onnxruntime-node or
// onnxruntime-web): labels, scores and batch-1 latencies of every model on the same images.
// Shared by node_consume.js (Node) and web.html (a browser), so both sides run one code path;
// `xrbench consumers` compares what comes back with the Python harness.
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.xrbenchConsume = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  function message(error) {
    return String((error && error.message) || error).split(/\s+/).join(" ").slice(0, 600);
  }

  // The warm-up and stopping rule of the Python harness (toolkit/harness/timing.py):
  // `warmup` untimed calls, then calls until at least `minCalls` and `budgetMs` of timed
  // calls, or `maxCalls`. Returns the per-call milliseconds.
  async function timeCalls(run, opts) {
    for (let i = 0; i < opts.warmup; i++) await run();
    const times = [];
    let spent = 0;
    while (times.length < opts.maxCalls && (times.length < opts.minCalls || spent < opts.budgetMs)) {
      const start = performance.now();
      await run();
      const elapsed = performance.now() - start;
      times.push(elapsed);
      spent += elapsed;
    }
    return times;
  }

  // One model: load `source` (a path in Node, bytes in a browser), run every image in chunks,
  // then time batch-1 calls on the first image. A failure is a status and a message, not a throw.
  async function consumeModel(ort, source, images, shape, opts) {
    let session;
    try {
      session = await ort.InferenceSession.create(source, opts.sessionOptions || {});
    } catch (error) {
      return { status: "load-failed", error: message(error) };
    }
    const n = shape[0];
    const rest = shape.slice(1);
    const per = rest.reduce((a, b) => a * b, 1);
    const labels = [];
    const scores = [];
    let width = 0;
    const feed = (start, end) => ({
      image: new ort.Tensor("uint8", images.subarray(start * per, end * per), [end - start, ...rest]),
    });
    try {
      for (let start = 0; start < n; start += opts.chunk) {
        const end = Math.min(n, start + opts.chunk);
        const out = await session.run(feed(start, end));
        width = out.scores.dims[1];
        for (const value of out.label.data) labels.push(Number(value));
        for (const value of out.scores.data) scores.push(value);
      }
      const one = feed(0, 1);
      const latency = await timeCalls(() => session.run(one), opts.timing);
      return { status: "ok", labels, scores, width, latency_ms: latency };
    } catch (error) {
      return { status: "run-failed", error: message(error) };
    } finally {
      if (session.release) await session.release();
    }
  }

  // Every model of a job, in order: {name: result}.
  async function consumeAll(ort, models, images, shape, opts) {
    const results = {};
    for (const model of models) {
      const source = opts.load ? await opts.load(model) : model.path;
      results[model.name] = await consumeModel(ort, source, images, shape, opts);
    }
    return results;
  }

  return { consumeAll, consumeModel, timeCalls };
});
