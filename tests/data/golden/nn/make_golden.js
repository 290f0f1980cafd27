// Make the golden raw-output fixtures of kinema's NN runtime with Google's
// runtimes (TFLite-WASM/XNNPACK for .tflite, TF.js CPU backend for TF.js).
// usage (see README.md): ORACLE=/tmp/oracle MODELS=/work/main/models node make_golden.js
const path = require('path');
const fs = require('fs');
const ORACLE = process.env.ORACLE || '/tmp/oracle';
const MODELS = process.env.MODELS || path.join(__dirname, '../../../../models');
const tf = require(path.join(ORACLE, 'node_modules/@tensorflow/tfjs'));
const { createRunner } = require(path.join(ORACLE, 'tflite_run.js'));
const { MODELS_LIST } = require('./models.js');

// Input tensor: centre crop of input256.rgb (256x256 RGB bytes) to size S,
// scaled: unit = v/255, signed = v/127.5 - 1, int = v (all rounded to f32).
function makeInput(size, scale) {
  const rgb = fs.readFileSync(path.join(__dirname, 'input256.rgb'));
  const o = (256 - size) / 2, out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) {
        const v = rgb[((y + o) * 256 + (x + o)) * 3 + c];
        out[(y * size + x) * 3 + c] = scale === 'unit' ? v / 255 : scale === 'signed' ? v / 127.5 - 1 : v;
      }
  return out;
}

// At most 512 values sampled with a fixed stride, plus whole-tensor statistics.
function summarise(name, shape, data) {
  const n = data.length, k = Math.min(n, 512), stride = Math.ceil(n / k);
  let sum = 0, abssum = 0, maxabs = 0;
  for (let i = 0; i < n; i++) { sum += data[i]; abssum += Math.abs(data[i]); maxabs = Math.max(maxabs, Math.abs(data[i])); }
  const values = [];
  for (let i = 0; i < n; i += stride) values.push(Number(data[i].toPrecision(9))); // exact float32 round trip
  return { name, shape, numel: n, stride, sum, abssum, maxabs, values };
}

async function runTflite(m, input) {
  const { runner, inputs, outputs } = await createRunner(path.join(MODELS, m.path));
  inputs[0].data().set(input);
  runner.Infer();
  return outputs.map(t => summarise(t.name, String(t.shape).split(',').map(Number), Float32Array.from(t.data())));
}

async function runTfjs(m, input, size) {
  const jsonPath = path.join(MODELS, m.path);
  const j = JSON.parse(fs.readFileSync(jsonPath));
  const specs = [], bufs = [];
  for (const g of j.weightsManifest) { specs.push(...g.weights); for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(jsonPath), p))); }
  const all = Buffer.concat(bufs);
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: j.modelTopology, weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), format: j.format,
    generatedBy: j.generatedBy, convertedBy: j.convertedBy, signature: j.signature, userDefinedMetadata: j.userDefinedMetadata }));
  const isInt = m.scale === 'int';
  const x = isInt ? tf.tensor4d(Int32Array.from(input), [1, size, size, 3], 'int32') : tf.tensor4d(input, [1, size, size, 3]);
  // named outputs: the cut heads, or every signature output (keyed by its signature name)
  const keys = m.outputs || Object.keys(j.signature.outputs);
  const nodes = m.outputs || keys.map(k => j.signature.outputs[k].name.replace(/:0$/, ''));
  const res = model.execute(x, nodes);
  const arr = Array.isArray(res) ? res : [res];
  const out = [];
  for (let i = 0; i < arr.length; i++) out.push(summarise(keys[i], arr[i].shape, await arr[i].data()));
  return out;
}

(async () => {
  await tf.setBackend('cpu');
  const only = process.argv[2];
  for (const m of MODELS_LIST) {
    if (only && m.id !== only) continue;
    const input = makeInput(m.size, m.scale);
    const t0 = Date.now();
    const outputs = m.path.endsWith('.tflite') ? await runTflite(m, input) : await runTfjs(m, input, m.size);
    const doc = { id: m.id, model: m.path, size: m.size, scale: m.scale,
      runtime: m.path.endsWith('.tflite') ? 'tfjs-tflite 0.0.1-alpha.10 (TFLite WASM, XNNPACK)' : 'tfjs 4.22.0 cpu backend',
      outputs };
    fs.writeFileSync(path.join(__dirname, m.id + '.json'), JSON.stringify(doc) + '\n');
    console.log(m.id, (Date.now() - t0) + 'ms', outputs.map(o => o.name + JSON.stringify(o.shape)).join(' '));
  }
})().catch(e => { console.error(e); process.exit(1); });
