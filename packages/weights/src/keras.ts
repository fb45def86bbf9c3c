/**
 * Keras weight files, read by layer name without Keras.
 *
 * Two layouts, as Keras writes them:
 * - **Keras 2 `save_weights`** (`keras/src/legacy/saving/legacy_h5_format.py`; every
 *   keras.applications file): the root (or `model_weights`, for a whole `model.save('x.h5')`) has
 *   the attribute `layer_names` (split into `layer_names0`, `layer_names1`... when large); each
 *   layer is the group of that name (`conv1/conv` is a nested group) with the attribute
 *   `weight_names`, each weight the dataset of that name inside it (`conv1/conv/kernel:0`).
 * - **Keras 3 `.weights.h5`** (`keras/src/saving/saving_lib.py`): a group per layer under
 *   `layers/` named for its class (`conv2d_3`), its variables in `vars/0`, `vars/1`... in the
 *   layer's own order, and the layer's name in the `vars` group's attribute `name`. Weights have no
 *   names there: they are matched by position.
 */
import { getNode, hdf5Call, isDataset, isGroup, openHdf5, stringList, WeightsFileError, type Hdf5Group } from './hdf5.js';

export interface KerasWeight {
  /** Its own name (`kernel`, `moving_mean`), or its position (`0`, `1`) in a Keras 3 file. */
  name: string;
  /** Where it is in the file (`conv1/conv/conv1/conv/kernel:0`, `layers/conv2d/vars/0`). */
  path: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

export interface KerasLayer {
  name: string;
  weights: KerasWeight[];
}

export interface KerasWeightsFile {
  file: string;
  /** `keras2`: weights named (match by name); `keras3`: weights by position within the layer. */
  layout: 'keras2' | 'keras3';
  /** The layers that have weights, in the file's order. */
  layers: KerasLayer[];
  /** The Keras version that wrote it, when recorded. */
  kerasVersion?: string;
}

/** Reads a layer list that Keras may have split over `<name>0`, `<name>1`... attributes. */
function chunkedAttribute(group: Hdf5Group, name: string): string[] | undefined {
  const attrs = group.attrs;
  if (name in attrs) return stringList(attrs[name]);
  if (!(`${name}0` in attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...stringList(attrs[`${name}${i}`])!);
  return out;
}

const FLOAT = /^[<>|=]?f[48]$/;
const INT = /^[<>|=]?[iu][1248]$/;

function readDataset(file: string, group: Hdf5Group, path: string, label: string): Omit<KerasWeight, 'name'> {
  const node = getNode(file, group, path, label);
  if (!isDataset(node)) throw new WeightsFileError(file, `${label}: no dataset at ${path}`);
  const dtype = hdf5Call(file, `${label} (type)`, () => node.dtype);
  const shape = hdf5Call(file, `${label} (shape)`, () => node.shape ?? []);
  if (typeof dtype !== 'string' || !(FLOAT.test(dtype) || INT.test(dtype))) {
    throw new WeightsFileError(file, `${label}: weights of HDF5 type ${JSON.stringify(dtype)} are not supported (float and integer are)`);
  }
  const raw = hdf5Call(file, label, () => node.value);
  const values = FLOAT.test(dtype) ? Float32Array.from(raw as ArrayLike<number>) : Int32Array.from(raw as ArrayLike<number>, Number);
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new WeightsFileError(file, `${label}: ${values.length} values for shape [${shape.join(',')}]`);
  return { path, shape: [...shape], dtype: FLOAT.test(dtype) ? 'float32' : 'int32', values };
}

/** `conv1/conv/kernel:0` in layer `conv1/conv` is the weight `kernel`. */
function ownWeightName(layer: string, weightName: string): string {
  const name = weightName.replace(/:\d+$/, '');
  if (name.startsWith(`${layer}/`)) return name.slice(layer.length + 1);
  return name.slice(name.lastIndexOf('/') + 1);
}

function readKeras2(file: string, root: Hdf5Group, layerNames: string[], kerasVersion: string | undefined): KerasWeightsFile {
  const layers: KerasLayer[] = [];
  for (const layer of layerNames) {
    const group = getNode(file, root, layer, `layer '${layer}'`);
    if (!isGroup(group)) throw new WeightsFileError(file, `layer '${layer}' is listed in layer_names but has no group (not a Keras 2 weights file, or damaged)`);
    const weightNames = hdf5Call(file, `layer '${layer}', its weight_names`, () => chunkedAttribute(group, 'weight_names')) ?? [];
    if (weightNames.length === 0) continue;
    layers.push({
      name: layer,
      weights: weightNames.map((w) => ({ name: ownWeightName(layer, w), ...readDataset(file, group, w, `layer '${layer}', weight '${w}'`) })),
    });
  }
  return { file, layout: 'keras2', layers, kerasVersion };
}

function readKeras3(file: string, root: Hdf5Group): KerasWeightsFile {
  const layersGroup = root.get('layers') as Hdf5Group;
  const layers: KerasLayer[] = [];
  for (const key of layersGroup.keys) {
    const vars = getNode(file, layersGroup, `${key}/vars`, `layers/${key}`);
    if (!isGroup(vars)) continue; // a layer whose own state lives only in nested layers
    const indices = vars.keys.filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    if (indices.length === 0) continue;
    // The layer's name is stored since Keras 3.10; before, only the class-based path is known.
    const name = hdf5Call(file, `layers/${key}/vars, its name`, () => stringList(vars.attrs.name)?.[0]) ?? key;
    layers.push({
      name,
      weights: indices.map((i) => ({ name: i, ...readDataset(file, vars, i, `layer '${name}' (layers/${key}), variable ${i}`) })),
    });
  }
  return { file, layout: 'keras3', layers };
}

/**
 * Reads the weights of a Keras `.h5` file held in memory (Keras 2 `save_weights` or `model.save`,
 * or Keras 3 `.weights.h5`). `file` names it in errors. Throws a WeightsFileError naming the file
 * for a non-HDF5, truncated or damaged file, or an HDF5 file in neither layout.
 */
export function readKerasWeights(bytes: Uint8Array, file: string): KerasWeightsFile {
  const h5 = openHdf5(bytes, file);
  const wrapped = getNode(file, h5, 'model_weights', 'model_weights');
  const root = isGroup(wrapped) ? wrapped : h5;
  const layerNames = hdf5Call(file, 'the layer_names attribute', () => chunkedAttribute(root, 'layer_names'));
  if (layerNames) return readKeras2(file, root, layerNames, stringList(root.attrs.keras_version)?.[0]);
  if (isGroup(getNode(file, h5, 'layers', 'layers'))) return readKeras3(file, h5);
  const top = hdf5Call(file, 'the top-level groups', () => h5.keys);
  throw new WeightsFileError(
    file,
    `an HDF5 file, but not Keras weights: expected the Keras 2 layout (a layer_names attribute at the root or in model_weights) ` +
      `or the Keras 3 .weights.h5 layout (a layers group); found top-level ${top.length ? top.join(', ') : 'nothing'}`,
  );
}
