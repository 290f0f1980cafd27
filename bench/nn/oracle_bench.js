// Speed of the oracle (Google's runtimes) on the model files kinema runs,
// for comparison with bench_nn: TFLite-WASM + XNNPACK (1 thread) for .tflite,
// TF.js WASM backend for the TF.js graphs (MoveNet cut at its raw heads, as
// kinema runs it). Median of N runs after 2 warm-up runs.
// usage: ORACLE=/tmp/oracle MODELS=models node bench/nn/oracle_bench.js [N]
const path = require('path');
const fs = require('fs');
const ORACLE = process.env.ORACLE || '/tmp/oracle';
const MODELS = process.env.MODELS || path.join(__dirname, '../../models');
const tf = require(path.join(ORACLE, 'node_modules/@tensorflow/tfjs'));
const wasm = require(path.join(ORACLE, 'node_modules/@tensorflow/tfjs-backend-wasm'));
const { createRunner } = require(path.join(ORACLE, 'tflite_run.js'));
const N = parseInt(process.argv[2] || '10', 10);
const MV = 'StatefulPartitionedCall/';
const HEADS = [MV + 'kpt_heatmap_0/conv2d_5/BiasAdd', MV + 'center_0/conv2d_4/BiasAdd',
               MV + 'kpt_regress_0/conv2d_6/BiasAdd', MV + 'kpt_offset_0/conv2d_7/BiasAdd'];
const MP = [MV + 'kpt_heatmap_0/conv2d_7/BiasAdd', MV + 'center_0/conv2d_4/BiasAdd', MV + 'kpt_regress_0/conv2d_8/BiasAdd',
            MV + 'kpt_offset_0/conv2d_9/BiasAdd', MV + 'box_scale_0/conv2d_5/BiasAdd', MV + 'box_offset_0/conv2d_6/BiasAdd'];
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];

async function tflite(name, file) {
  const { runner } = await createRunner(path.join(MODELS, file), 1);
  const t = [];
  for (let i = 0; i < N + 2; i++) { const t0 = process.hrtime.bigint(); runner.Infer(); t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
  console.log(`${name.padEnd(20)} tflite-wasm-xnnpack 1 thread  ${median(t.slice(2)).toFixed(2)} ms`);
}

async function tfjs(name, file, size, outs) {
  const j = JSON.parse(fs.readFileSync(path.join(MODELS, file)));
  const specs = [], bufs = [];
  for (const g of j.weightsManifest) { specs.push(...g.weights); for (const p of g.paths) bufs.push(fs.readFileSync(path.join(MODELS, path.dirname(file), p))); }
  const all = Buffer.concat(bufs);
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: j.modelTopology, weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), format: j.format,
    generatedBy: j.generatedBy, convertedBy: j.convertedBy, signature: j.signature, userDefinedMetadata: j.userDefinedMetadata }));
  const x = outs ? tf.zeros([1, size, size, 3], 'int32') : tf.zeros([1, size, size, 3]);
  const names = outs || Object.values(j.signature.outputs).map(o => o.name.replace(/:0$/, ''));
  const t = [];
  for (let i = 0; i < N + 2; i++) {
    const t0 = process.hrtime.bigint();
    const r = model.execute(x, names);
    for (const o of (Array.isArray(r) ? r : [r])) { await o.data(); o.dispose(); }
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(`${name.padEnd(20)} tfjs-wasm            ${median(t.slice(2)).toFixed(2)} ms`);
}

(async () => {
  wasm.setThreadsCount(1);
  await tf.setBackend('wasm'); await tf.ready();
  await tflite('blazepose-detector', 'tflite/pose_detection.tflite');
  await tflite('blazepose-lite', 'tflite/pose_landmark_lite.tflite');
  await tflite('blazepose-full', 'tflite/pose_landmark_full.tflite');
  await tflite('blazepose-heavy', 'tflite/pose_landmark_heavy.tflite');
  await tfjs('blazepose-full-tfjs', 'tfjs/blazepose-full.json', 256, null);
  await tfjs('movenet-lightning', 'tfjs/movenet-lightning.json', 192, HEADS);
  await tfjs('movenet-thunder', 'tfjs/movenet-thunder.json', 256, HEADS);
  await tfjs('movenet-multipose', 'tfjs/movenet-multipose.json', 256, MP);
})().catch(e => { console.error(e); process.exit(1); });
