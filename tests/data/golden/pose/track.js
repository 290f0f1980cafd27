// track.js - Google's tfjs-models pose pipeline over consecutive video
// frames (its own crop / ROI tracking; keypoint smoothing off), for
// kinema's tracking goldens. Copy it into the oracle directory (node
// resolves node_modules from the script's own directory) and run it there:
//   node track.js thunder|lightning|blazepose-full VIDEO NFRAMES
// Prints, per frame, "frame i" then the keypoints "name x= X y= Y score=S".
const tf = require('@tensorflow/tfjs'); require('@tensorflow/tfjs-backend-wasm');
const pd = require('@tensorflow-models/pose-detection');
const fs = require('fs'); const { execFileSync } = require('child_process');
const dir = process.env.MODELS_DIR || '../models';
function io(name) {
  const j = JSON.parse(fs.readFileSync(`${dir}/tfjs/${name}.json`)); const b = fs.readFileSync(`${dir}/tfjs/${name}.bin`);
  return tf.io.fromMemory({ modelTopology: j.modelTopology, weightSpecs: j.weightsManifest[0].weights,
    weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.length), signature: j.signature, format: j.format });
}
(async () => {
  const [kind, video, nstr] = process.argv.slice(2); const n = Number(nstr);
  await tf.setBackend('wasm'); await tf.ready();
  const [w, h] = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height',
    '-of', 'csv=p=0', video]).toString().trim().split(',').map(Number);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', video, '-frames:v', String(n), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { maxBuffer: 1 << 30 });
  let det;
  if (kind.startsWith('blazepose'))
    det = await pd.createDetector(pd.SupportedModels.BlazePose, { runtime: 'tfjs', modelType: kind.split('-')[1], enableSmoothing: false,
      detectorModelUrl: io('blazepose-detector'), landmarkModelUrl: io(kind) });
  else
    det = await pd.createDetector(pd.SupportedModels.MoveNet, { enableSmoothing: false,
      modelType: kind === 'lightning' ? pd.movenet.modelType.SINGLEPOSE_LIGHTNING : pd.movenet.modelType.SINGLEPOSE_THUNDER,
      modelUrl: io(`movenet-${kind}`) });
  for (let i = 0; i < n; i++) {
    const t = tf.tensor3d(new Uint8Array(raw.buffer, raw.byteOffset + i * w * h * 3, w * h * 3), [h, w, 3], 'int32');
    const poses = await det.estimatePoses(t, { flipHorizontal: false }, i * 100);
    t.dispose();
    console.log(`frame ${i} poses ${poses.length}`);
    for (const p of poses)
      for (const k of p.keypoints) console.log(`${k.name} x= ${k.x.toFixed(2)} y= ${k.y.toFixed(2)} score=${(k.score ?? 0).toFixed(3)}`);
  }
})().catch(e => { console.error('ERR', e.message); process.exit(1); });
