// virTypedParameter lists, both ways: building them for libvirt (migration parameters, block copy)
// with libvirt's own virTypedParamsAdd* functions, so libvirt owns and frees the memory; and decoding
// the lists libvirt returns (job stats, job-completed events) into plain records.
import { assert } from "../../common/assert.js";
import { typedParameterTypes } from "./constants.js";
import { checkResult } from "./errors.js";
import { koffi, native, type RawPointer } from "./ffi.js";

export type TypedParameterTypeName = keyof typeof typedParameterTypes;

/** One parameter to send to libvirt. 64-bit kinds take a bigint or a safe integer. */
export type TypedParameter =
  | { name: string; type: "int" | "uint" | "double"; value: number }
  | { name: string; type: "llong" | "ullong"; value: number | bigint }
  | { name: string; type: "boolean"; value: boolean }
  | { name: string; type: "string"; value: string };

/** Decoded parameters by name. 64-bit integers become numbers (exact below 2^53, which covers byte counts here). */
export type TypedParameterRecord = Record<string, number | boolean | string>;

/** sizeof(virTypedParameter) on LP64: char field[80], int type, 4 bytes padding, 8-byte union. */
const parameterSizeBytes = 96;
const fieldLengthBytes = 80;
const typeOffsetBytes = 80;
const valueOffsetBytes = 88;

/**
 * Builds a native parameter list, hands it to `use`, and frees it afterwards even when `use` throws.
 * `use` receives (pointer, count); pointer is null for an empty list.
 */
export function withTypedParameters<T>(
  parameters: readonly TypedParameter[],
  use: (pointer: RawPointer | null, count: number) => T,
): T {
  const list: [RawPointer | null] = [null];
  const count = new Int32Array(1);
  const capacity = new Int32Array(1);
  try {
    for (const parameter of parameters) addParameter(list, count, capacity, parameter);
    return use(list[0], count[0] ?? 0);
  } finally {
    native.virTypedParamsFree(list[0], count[0] ?? 0);
  }
}

function addParameter(
  list: [RawPointer | null],
  count: Int32Array,
  capacity: Int32Array,
  parameter: TypedParameter,
): void {
  const operation = `virTypedParamsAdd(${parameter.name})`;
  switch (parameter.type) {
    case "int":
      checkResult(native.virTypedParamsAddInt(list, count, capacity, parameter.name, parameter.value), operation);
      return;
    case "uint":
      checkResult(native.virTypedParamsAddUInt(list, count, capacity, parameter.name, parameter.value), operation);
      return;
    case "llong":
      checkResult(native.virTypedParamsAddLLong(list, count, capacity, parameter.name, BigInt(parameter.value)), operation);
      return;
    case "ullong":
      checkResult(native.virTypedParamsAddULLong(list, count, capacity, parameter.name, BigInt(parameter.value)), operation);
      return;
    case "double":
      checkResult(native.virTypedParamsAddDouble(list, count, capacity, parameter.name, parameter.value), operation);
      return;
    case "boolean":
      checkResult(native.virTypedParamsAddBoolean(list, count, capacity, parameter.name, parameter.value ? 1 : 0), operation);
      return;
    case "string":
      checkResult(native.virTypedParamsAddString(list, count, capacity, parameter.name, parameter.value), operation);
      return;
  }
}

/** Decodes `count` parameters at `pointer` (which stays owned by the caller). */
export function decodeTypedParameters(pointer: RawPointer | null, count: number): TypedParameterRecord {
  const record: TypedParameterRecord = {};
  if (pointer === null || count <= 0) return record;
  const bytes = new DataView(koffi.view(pointer, count * parameterSizeBytes));
  for (let index = 0; index < count; index++) {
    const base = index * parameterSizeBytes;
    record[readFieldName(bytes, base)] = readValue(bytes, base);
  }
  return record;
}

function readFieldName(bytes: DataView, base: number): string {
  let end = base;
  while (end < base + fieldLengthBytes && bytes.getUint8(end) !== 0) end++;
  return new TextDecoder().decode(new Uint8Array(bytes.buffer, base, end - base));
}

function readValue(bytes: DataView, base: number): number | boolean | string {
  const type = bytes.getInt32(base + typeOffsetBytes, true);
  const at = base + valueOffsetBytes;
  switch (type) {
    case typedParameterTypes.int:
      return bytes.getInt32(at, true);
    case typedParameterTypes.uint:
      return bytes.getUint32(at, true);
    case typedParameterTypes.llong:
      return Number(bytes.getBigInt64(at, true));
    case typedParameterTypes.ullong:
      return Number(bytes.getBigUint64(at, true));
    case typedParameterTypes.double:
      return bytes.getFloat64(at, true);
    case typedParameterTypes.boolean:
      return bytes.getInt8(at) !== 0;
    case typedParameterTypes.string: {
      const stringPointer = bytes.getBigUint64(at, true);
      return stringPointer === 0n ? "" : koffi.decode.string(stringPointer);
    }
    default:
      assert(false, `virTypedParameter of unknown type ${type}`);
  }
}
