// `node node_consume.js JOB.json OUT.json`: every model of an `xrbench consumers` job on
// onnxruntime-node. JOB holds the models' paths, a raw uint8 image file and its shape; OUT
// gets labels, scores and batch-1 latencies per model (see consume.js).
"use strict";
const fs = require("fs");
const ort = require("onnxruntime-node");
const { consumeAll } = require("./consume.js");

async function main() {
  const [jobPath, outPath] = process.argv.slice(2);
  if (!jobPath || !outPath) {
    console.error("usage: node node_consume.js JOB.json OUT.json");
    process.exit(2);
  }
  const job = JSON.parse(fs.readFileSync(jobPath, "utf8"));
  const images = new Uint8Array(fs.readFileSync(job.images));
  const opts = {
    chunk: job.chunk,
    timing: job.timing,
    sessionOptions: {
      executionProviders: ["cpu"],
      intraOpNumThreads: job.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    },
  };
  const results = await consumeAll(ort, job.models, images, job.shape, opts);
  const version = require("onnxruntime-node/package.json").version;
  fs.writeFileSync(outPath, JSON.stringify({ consumer: "onnxruntime-node", version, results }));
}

main().catch((error) => {
  console.error(String((error && error.stack) || error));
  process.exit(1);
});
