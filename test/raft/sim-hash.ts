// 53-bit non-cryptographic hashes (cyrb53-style, two 32-bit lanes) for the simulator: log prefix
// chains, state-machine chains and the run trace. Deterministic across runs and platforms.

const lane1Seed = 0xdeadbeef;
const lane2Seed = 0x41c6ce57;

export class Hasher {
  private lane1: number;
  private lane2: number;

  constructor(seed = 0) {
    this.lane1 = lane1Seed ^ (seed >>> 0);
    this.lane2 = lane2Seed ^ Math.floor(seed / 4294967296);
  }

  number(value: number): this {
    const low = value >>> 0;
    const high = Math.floor(value / 4294967296) >>> 0;
    this.word(low);
    this.word(high);
    return this;
  }

  bytes(bytes: Uint8Array): this {
    this.word(bytes.byteLength);
    for (let position = 0; position < bytes.byteLength; position += 1) this.word(bytes[position]!);
    return this;
  }

  text(value: string): this {
    this.word(value.length);
    for (let position = 0; position < value.length; position += 1) this.word(value.charCodeAt(position));
    return this;
  }

  digest(): number {
    let lane1 = this.lane1;
    let lane2 = this.lane2;
    lane1 = Math.imul(lane1 ^ (lane1 >>> 16), 2246822507);
    lane1 ^= Math.imul(lane2 ^ (lane2 >>> 13), 3266489909);
    lane2 = Math.imul(lane2 ^ (lane2 >>> 16), 2246822507);
    lane2 ^= Math.imul(lane1 ^ (lane1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & lane2) + (lane1 >>> 0);
  }

  private word(value: number): void {
    this.lane1 = Math.imul(this.lane1 ^ value, 2654435761);
    this.lane2 = Math.imul(this.lane2 ^ value, 1597334677);
  }
}

/** The hash of a log (or applied) prefix extended by one entry. */
export function chainHash(previous: number, entry: { index: number; term: number; kind: string; data: Uint8Array }): number {
  return new Hasher(previous).number(entry.index).number(entry.term).text(entry.kind).bytes(entry.data).digest();
}
