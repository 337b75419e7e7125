// Random protobuf messages for the fuzzer: valid encodings of random field values (drawn from
// edge cases, near-valid values and junk), plus raw byte mutations of such encodings. Seeded:
// the same seed gives the same bytes.
import { join } from "node:path";
import protobuf from "protobufjs";
import type { Rng } from "../../common/env.js";
import { protoFiles, protoSourceDir } from "../../common/proto.js";

export interface FuzzMethod {
  service: string;
  name: string;
  path: string;
  requestType: protobuf.Type;
  requestStream: boolean;
  responseStream: boolean;
}

/** Every method of the services the fuzzer targets, from the real .proto files. */
export function fuzzMethods(services: readonly string[]): FuzzMethod[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(protoSourceDir(), target));
  root.loadSync(protoFiles, { keepCase: false });
  root.resolveAll();
  const methods: FuzzMethod[] = [];
  for (const serviceName of services) {
    const service = root.lookupService(`vigil.v1.${serviceName}`);
    for (const method of service.methodsArray) {
      methods.push({
        service: serviceName,
        name: method.name,
        path: `/vigil.v1.${serviceName}/${method.name}`,
        requestType: method.resolvedRequestType!,
        requestStream: method.requestStream === true,
        responseStream: method.responseStream === true,
      });
    }
  }
  return methods;
}

export class Generator {
  constructor(
    private readonly rng: Rng,
    /** Values that mean something to this cluster (host ids, config keys): reach deeper code. */
    private readonly nearValidStrings: readonly string[],
  ) {}

  integer(maxExclusive: number): number {
    return Math.floor(this.rng.next() * maxExclusive);
  }

  chance(probability: number): boolean {
    return this.rng.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.integer(items.length)]!;
  }

  string(): string {
    switch (this.integer(8)) {
      case 0:
      case 1:
        return this.pick(this.nearValidStrings);
      case 2:
        return this.pick(["", " ", "0", "-1", "1e309", "NaN", "0x10", "../../etc/passwd", "\u0000", "a\nb", "💥", "%s%n", "'; DROP TABLE vms; --"]);
      case 3:
        return "x".repeat(this.pick([63, 64, 200, 201, 256, 257, 1025, 70_000]));
      case 4:
        return '<domain><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><name>&e;</name></domain>';
      case 5:
        return Array.from({ length: this.integer(40) }, () => String.fromCharCode(0x20 + this.integer(95))).join("");
      case 6:
        return Array.from({ length: this.integer(12) }, () => String.fromCodePoint(this.integer(0x2ffff))).join("").replace(/[\ud800-\udfff]/g, "?");
      default:
        return Array.from({ length: 1 + this.integer(12) }, () => "abcdefghijklmnopqrstuvwxyz0123456789.-"[this.integer(38)]).join("");
    }
  }

  number(type: string): number | string {
    const edges: Record<string, readonly (number | string)[]> = {
      int32: [0, 1, -1, 2_147_483_647, -2_147_483_648, 1_000_001],
      uint32: [0, 1, 3_600, 3_601, 4_294_967_295, 1_001],
      int64: [0, 1, -1, Number.MAX_SAFE_INTEGER, "9223372036854775807", "-9223372036854775808"],
      uint64: [0, 1, Number.MAX_SAFE_INTEGER, "18446744073709551615"],
      double: [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308, -1],
    };
    const family = type === "sint32" || type === "sfixed32" ? "int32" : type === "fixed32" ? "uint32" : type === "sint64" || type === "sfixed64" ? "int64" : type === "fixed64" ? "uint64" : type === "float" ? "double" : type;
    if (this.chance(0.6)) return this.pick(edges[family] ?? [0]);
    return family === "double" ? (this.rng.next() - 0.5) * 1e6 : this.integer(family.startsWith("u") ? 100_000 : 200_000) - (family.startsWith("u") ? 0 : 100_000);
  }

  bytes(): Buffer {
    if (this.chance(0.3)) return Buffer.from(this.pick(['{"kind":"Nope"}', "{}", "[]", "null", '{"kind":"SetConfig","key":1}', "\u0000\u0001"]));
    return Buffer.from(Array.from({ length: this.integer(64) }, () => this.integer(256)));
  }

  /** A plain object of random field values for `type`; `depth` bounds nesting. */
  message(type: protobuf.Type, depth = 0): Record<string, unknown> {
    const value: Record<string, unknown> = {};
    const chosenOneofFields = new Set(type.oneofsArray.map((oneof) => (this.chance(0.85) ? this.pick(oneof.fieldsArray).name : "")));
    for (const field of type.fieldsArray) {
      if (field.partOf !== null && !chosenOneofFields.has(field.name)) continue;
      if (field.partOf === null && this.chance(0.25)) continue;
      if (field.repeated) {
        const count = this.chance(0.05) ? 200 + this.integer(2_000) : this.integer(4);
        value[field.name] = Array.from({ length: count }, () => this.fieldValue(field, depth));
      } else {
        value[field.name] = this.fieldValue(field, depth);
      }
    }
    return value;
  }

  private fieldValue(field: protobuf.Field, depth: number): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return depth >= 3 ? {} : this.message(resolved, depth + 1);
    if (resolved instanceof protobuf.Enum) return this.chance(0.8) ? this.pick(Object.values(resolved.values)) : this.integer(1_000) - 10;
    switch (field.type) {
      case "string":
        return this.string();
      case "bool":
        return this.chance(0.5);
      case "bytes":
        return this.bytes();
      default:
        return this.number(field.type);
    }
  }

  /** A valid encoding of a random `type`, sometimes mutated into arbitrary bytes. */
  encoded(type: protobuf.Type, template?: Record<string, unknown>): { bytes: Buffer; mutated: boolean } {
    const bytes = Buffer.from(type.encode(type.fromObject(template ?? this.message(type))).finish());
    if (!this.chance(0.3)) return { bytes, mutated: false };
    return { bytes: this.mutate(bytes), mutated: true };
  }

  /** One to four raw mutations: bit flips, byte sets, truncation, insertion, duplication. */
  mutate(input: Buffer): Buffer {
    let bytes = Buffer.from(input);
    for (let step = 1 + this.integer(4); step > 0; step -= 1) {
      const at = bytes.length === 0 ? 0 : this.integer(bytes.length);
      switch (this.integer(5)) {
        case 0:
          if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << this.integer(8));
          break;
        case 1:
          if (bytes.length > 0) bytes[at] = this.pick([0x00, 0xff, 0x7f, 0x80, 0x0a, 0x12, this.integer(256)]);
          break;
        case 2:
          bytes = bytes.subarray(0, at);
          break;
        case 3:
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(Array.from({ length: 1 + this.integer(16) }, () => this.integer(256))), bytes.subarray(at)]);
          break;
        default:
          bytes = Buffer.concat([bytes, bytes.subarray(at)]);
      }
    }
    return bytes;
  }
}
