/**
 * A minimal ONNX model writer: just enough protobuf (onnx.proto3's ModelProto, GraphProto,
 * NodeProto, AttributeProto, ValueInfoProto) to describe one small float32 graph, so that no
 * protobuf library or model file is needed. Field numbers are onnx.proto's.
 */

const utf8 = new TextEncoder();

function varint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n; // two's complement, as protobuf encodes negative int64
  while (v > 127n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const key = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, value: number) => [...key(field, 0), ...varint(value)];
const bytes = (field: number, payload: number[]) => [...key(field, 2), ...varint(payload.length), ...payload];
const str = (field: number, s: string) => bytes(field, [...utf8.encode(s)]);
const float = (field: number, value: number) => [...key(field, 5), ...new Uint8Array(new Float32Array([value]).buffer)];

/** AttributeProto.AttributeType */
const FLOAT = 1;
const INT = 2;
const INTS = 7;

export type Attr = { name: string } & ({ int: number } | { ints: number[] } | { float: number });

function attribute(a: Attr): number[] {
  const head = str(1, a.name);
  if ('int' in a) return [...head, ...int(20, INT), ...int(3, a.int)];
  if ('float' in a) return [...head, ...int(20, FLOAT), ...float(2, a.float)];
  return [...head, ...int(20, INTS), ...a.ints.flatMap((i) => int(8, i))];
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Attr[];
}

function node(n: OnnxNode): number[] {
  return [
    ...n.inputs.flatMap((i) => str(1, i)),
    ...n.outputs.flatMap((o) => str(2, o)),
    ...str(4, n.op),
    ...(n.attrs ?? []).flatMap((a) => bytes(5, attribute(a))),
  ];
}

/** A float32 tensor value of a fixed shape (TypeProto.Tensor, elem_type FLOAT = 1). */
function valueInfo(name: string, shape: number[]): number[] {
  const dims = shape.flatMap((d) => bytes(1, int(1, d)));
  const tensorType = [...int(1, 1), ...bytes(2, dims)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** The serialized ModelProto of a graph of float32 tensors (IR version 8, default opset 17). */
export function onnxModel(graph: { nodes: OnnxNode[]; inputs: [string, number[]][]; outputs: [string, number[]][] }): Uint8Array {
  const g = [
    ...graph.nodes.flatMap((n) => bytes(1, node(n))),
    ...str(2, 'fermix'),
    ...graph.inputs.flatMap(([name, shape]) => bytes(11, valueInfo(name, shape))),
    ...graph.outputs.flatMap(([name, shape]) => bytes(12, valueInfo(name, shape))),
  ];
  const opset = [...str(1, ''), ...int(2, 17)];
  return new Uint8Array([...int(1, 8), ...str(2, 'fermix'), ...bytes(8, opset), ...bytes(7, g)]);
}
