// The golden cases: model file (relative to models/), input size and scaling,
// and for MoveNet the four (MultiPose: six) raw heads the graph is cut at.
const MV = 'StatefulPartitionedCall/';
const MODELS_LIST = [
  { id: 'tflite-detector', path: 'tflite/pose_detection.tflite', size: 224, scale: 'signed' },
  { id: 'tflite-lite', path: 'tflite/pose_landmark_lite.tflite', size: 256, scale: 'unit' },
  { id: 'tflite-full', path: 'tflite/pose_landmark_full.tflite', size: 256, scale: 'unit' },
  { id: 'tflite-heavy', path: 'tflite/pose_landmark_heavy.tflite', size: 256, scale: 'unit' },
  { id: 'tfjs-detector', path: 'tfjs/blazepose-detector.json', size: 224, scale: 'signed' },
  { id: 'tfjs-lite', path: 'tfjs/blazepose-lite.json', size: 256, scale: 'unit' },
  { id: 'tfjs-full', path: 'tfjs/blazepose-full.json', size: 256, scale: 'unit' },
  { id: 'tfjs-heavy', path: 'tfjs/blazepose-heavy.json', size: 256, scale: 'unit' },
  { id: 'movenet-lightning', path: 'tfjs/movenet-lightning.json', size: 192, scale: 'int',
    outputs: [MV + 'kpt_heatmap_0/conv2d_5/BiasAdd', MV + 'center_0/conv2d_4/BiasAdd',
              MV + 'kpt_regress_0/conv2d_6/BiasAdd', MV + 'kpt_offset_0/conv2d_7/BiasAdd'] },
  { id: 'movenet-thunder', path: 'tfjs/movenet-thunder.json', size: 256, scale: 'int',
    outputs: [MV + 'kpt_heatmap_0/conv2d_5/BiasAdd', MV + 'center_0/conv2d_4/BiasAdd',
              MV + 'kpt_regress_0/conv2d_6/BiasAdd', MV + 'kpt_offset_0/conv2d_7/BiasAdd'] },
  { id: 'movenet-multipose', path: 'tfjs/movenet-multipose.json', size: 256, scale: 'int',
    outputs: [MV + 'kpt_heatmap_0/conv2d_7/BiasAdd', MV + 'center_0/conv2d_4/BiasAdd',
              MV + 'kpt_regress_0/conv2d_8/BiasAdd', MV + 'kpt_offset_0/conv2d_9/BiasAdd',
              MV + 'box_scale_0/conv2d_5/BiasAdd', MV + 'box_offset_0/conv2d_6/BiasAdd'] },
];
module.exports = { MODELS_LIST };
