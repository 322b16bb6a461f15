// Times an ONNX model in ONNX Runtime (npm onnxruntime-node, its CPU execution provider):
// the whole-model peer of scripts/model_bench.sh. A benchmark peer only, never a part of
// priortune or its tests.
//
// Usage: node scripts/ort_bench.js MODEL.onnx --threads N [--repeat 50] [--warmup 10]
//          [--input x.bin] [--output y.bin] [--profile PREFIX] [--baseline]
//   env ORT_NODE_PATH=<dir holding node_modules/onnxruntime-node> (default build/ort)
// The session: intraOpNumThreads = N, interOpNumThreads = 1, sequential execution, every
// graph optimisation ('all'). --warmup runs, then --repeat timed runs of session.run on
// the same input; prints one JSON line: model, threads, median_ms, min_ms, max_ms,
// repeat, the ORT version, peak RSS.
// --input [NAME=]FILE, repeatable: an input's raw little-endian values in its type; the
//   inputs' names, types and shapes come from MODEL.json (scripts/export_models.py), else
//   one float32 1x3x224x224; an input not given is uniform [-1, 1) for float32, 1 for int64.
// --output: the first output's raw float32 values.
// --profile PREFIX: ORT's own profiler (enableProfiling) on the timed runs; its trace is
//   written to PREFIX_<date>.json and the path is printed in the JSON line ("profile").
// --baseline: read the input, load nothing, run nothing: Node's own peak RSS, which the
//   memory figure subtracts.
// Exit 2 for bad usage, 1 if ONNX Runtime fails.
'use strict';
const fs = require('fs');
const path = require('path');

function usage(msg) {
  process.stderr.write('ort_bench: ' + msg + '\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {model: '', threads: 0, repeat: 50, warmup: 10, inputs: [], output: '', profile: '', baseline: false};
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--baseline') { o.baseline = true; continue; }
    if (!a.startsWith('--')) {
      if (o.model) usage('one model only, got ' + o.model + ' and ' + a);
      o.model = a;
      continue;
    }
    if (i + 1 >= argv.length) usage(a + ' needs a value');
    const v = argv[++i];
    if (a === '--threads') o.threads = Number(v);
    else if (a === '--repeat') o.repeat = Number(v);
    else if (a === '--warmup') o.warmup = Number(v);
    else if (a === '--input') o.inputs.push(v);
    else if (a === '--output') o.output = v;
    else if (a === '--profile') o.profile = v;
    else usage('unknown option ' + a);
  }
  if (!o.model) usage('no model given');
  for (const k of ['threads', 'repeat'])
    if (!Number.isInteger(o[k]) || o[k] < 1) usage('--' + k + ' must be a whole number of at least 1');
  if (!Number.isInteger(o.warmup) || o.warmup < 0) usage('--warmup must be a whole number of at least 0');
  return o;
}

// {name: {shape, dtype}} of the model's inputs.
function inputSpecs(model) {
  const meta = model.replace(/\.onnx$/, '.json');
  if (fs.existsSync(meta)) return JSON.parse(fs.readFileSync(meta, 'utf8')).inputs;
  return {input: {shape: [1, 3, 224, 224], dtype: 'float32'}};
}

// Each input's data: its --input file (NAME=FILE; FILE alone for a model of one input),
// else a fixed pattern.
function makeInputs(o, specs) {
  const names = Object.keys(specs), files = {};
  for (const arg of o.inputs) {
    const eq = arg.indexOf('=');
    const name = eq < 0 && names.length === 1 ? names[0] : arg.slice(0, eq);
    if (!specs[name]) usage('--input ' + arg + ': no input named ' + name + ' (' + names.join(', ') + ')');
    files[name] = eq < 0 ? arg : arg.slice(eq + 1);
  }
  const data = {};
  for (const name of names) {
    const {shape, dtype} = specs[name];
    if (dtype !== 'float32' && dtype !== 'int64') usage('input ' + name + ': type ' + dtype);
    const n = shape.reduce((a, b) => a * b, 1), bytes = dtype === 'int64' ? 8 : 4;
    if (files[name]) {
      const buf = fs.readFileSync(files[name]);
      if (buf.length !== n * bytes) usage(files[name] + ' holds ' + buf.length + ' bytes; the model takes ' + n * bytes);
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
      data[name] = dtype === 'int64' ? new BigInt64Array(ab) : new Float32Array(ab);
      continue;
    }
    if (dtype === 'int64') {
      data[name] = new BigInt64Array(n).fill(1n);
      continue;
    }
    // A small LCG: any fixed input will do for timing.
    const x = new Float32Array(n);
    let s = 42;
    for (let i = 0; i < n; ++i) {
      s = (s * 1664525 + 1013904223) >>> 0;
      x[i] = s / 2147483648 - 1;
    }
    data[name] = x;
  }
  return data;
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(o.model)) usage('no model at ' + o.model);
  const specs = inputSpecs(o.model);
  const inputs = makeInputs(o, specs);
  if (o.baseline) {
    console.log(JSON.stringify({baseline: true, peak_rss_kb: process.resourceUsage().maxRSS}));
    return;
  }
  const where = process.env.ORT_NODE_PATH || path.join(__dirname, '..', 'build', 'ort');
  let ort, version;
  try {
    ort = require(path.join(where, 'node_modules', 'onnxruntime-node'));
    version = require(path.join(where, 'node_modules', 'onnxruntime-node', 'package.json')).version;
  } catch (e) {
    process.stderr.write('ort_bench: onnxruntime-node is not installed under ' + where +
                         ' (scripts/model_bench.sh installs it): ' + e.message + '\n');
    process.exit(2);
  }
  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if (o.profile) {
    options.enableProfiling = true;
    options.profileFilePrefix = o.profile;
  }
  const session = await ort.InferenceSession.create(o.model, options);
  const feeds = {};
  for (const name of session.inputNames) {
    if (!specs[name]) throw new Error('the model has an input ' + name + ' that ' + o.model + "'s .json does not list");
    feeds[name] = new ort.Tensor(specs[name].dtype, inputs[name], specs[name].shape);
  }
  let out;
  for (let i = 0; i < o.warmup; ++i) out = await session.run(feeds);
  // The warm-up runs are in the profile too; its reader skips them (it knows --warmup).
  const times = [];
  for (let i = 0; i < o.repeat; ++i) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const result = {
    model: path.basename(o.model, '.onnx'), threads: o.threads, median_ms: median(times),
    min_ms: Math.min(...times), max_ms: Math.max(...times), repeat: o.repeat, warmup: o.warmup,
    onnxruntime: version, node: process.version, peak_rss_kb: process.resourceUsage().maxRSS,
  };
  if (o.profile) {
    // endProfiling() writes the trace (this binding does not return its name): the newest
    // PREFIX_*.json is it.
    await session.endProfiling();
    const dir = path.dirname(path.resolve(o.profile)), stem = path.basename(o.profile) + '_';
    const traces = fs.readdirSync(dir).filter((f) => f.startsWith(stem) && f.endsWith('.json'))
                       .map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    if (!traces.length) throw new Error('ONNX Runtime wrote no profile at ' + o.profile + '_*.json');
    result.profile = traces[0];
  }
  if (o.output) fs.writeFileSync(o.output, Buffer.from(out[session.outputNames[0]].data.buffer));
  await session.release();
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  process.stderr.write('ort_bench: ' + (e && e.message ? e.message : e) + '\n');
  process.exit(1);
});
