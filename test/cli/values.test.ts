// Proves the flag value parsers: durations, --since times, integers, shutdown timeouts, endpoints and name lists accept what operators type and refuse the rest.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  parseDurationMs,
  parseEndpoint,
  parseEndpointList,
  parseInteger,
  parseNameList,
  parseShutdownTimeoutSeconds,
  parseSince,
  resolveSinceMs,
} from "../../controlplane/cli/values.js";

describe("durations", () => {
  it("read units from milliseconds to days, combined and fractional", () => {
    assert.equal(parseDurationMs("250ms"), 250);
    assert.equal(parseDurationMs("90s"), 90_000);
    assert.equal(parseDurationMs("10m"), 600_000);
    assert.equal(parseDurationMs("1h30m"), 5_400_000);
    assert.equal(parseDurationMs("1.5h"), 5_400_000);
    assert.equal(parseDurationMs("2d"), 172_800_000);
  });

  it("refuse bare numbers, unknown units, signs and junk", () => {
    for (const text of ["", "10", "10x", "-5m", "m", "1h 30m", "ten minutes", "1e3s"]) {
      assert.equal(parseDurationMs(text), null, text);
    }
  });
});

describe("--since", () => {
  it("reads a duration as that long before now", () => {
    assert.deepEqual(parseSince("10m"), { kind: "ago", agoMs: 600_000 });
    assert.equal(resolveSinceMs({ kind: "ago", agoMs: 600_000 }, 1_000_000), 400_000);
  });

  it("reads ISO dates and times", () => {
    assert.deepEqual(parseSince("2025-03-01T12:00:00Z"), { kind: "at", atMs: Date.UTC(2025, 2, 1, 12) });
    assert.deepEqual(parseSince("2025-03-01T12:00:00.250+02:00"), { kind: "at", atMs: Date.UTC(2025, 2, 1, 10, 0, 0, 250) });
    assert.deepEqual(parseSince("2025-03-01"), { kind: "at", atMs: Date.UTC(2025, 2, 1) });
  });

  it("refuses anything else", () => {
    for (const text of ["yesterday", "2025-13-45", "12:00", "1700000000000", ""]) assert.equal(parseSince(text), null, text);
  });

  it("resolves to 0 (from the start) when absent and never goes below 0", () => {
    assert.equal(resolveSinceMs(null, 5_000), 0);
    assert.equal(resolveSinceMs({ kind: "ago", agoMs: 10_000 }, 5_000), 0);
    assert.equal(resolveSinceMs({ kind: "at", atMs: 42 }, 5_000), 42);
  });
});

describe("integers", () => {
  it("accept base-10 integers within bounds", () => {
    assert.equal(parseInteger("42", { min: 0, max: 100 }), 42);
    assert.equal(parseInteger("-7", { min: -10, max: 10 }), -7);
  });

  it("refuse fractions, exponents, spaces, signs and values out of bounds", () => {
    for (const text of ["1.5", "1e3", " 4", "+4", "", "abc", "0x10", "101"]) {
      assert.equal(parseInteger(text, { min: 0, max: 100 }), null, text);
    }
  });
});

describe("shutdown timeout", () => {
  it("takes whole seconds or a duration rounded up to a second", () => {
    assert.equal(parseShutdownTimeoutSeconds("120"), 120);
    assert.equal(parseShutdownTimeoutSeconds("2m"), 120);
    assert.equal(parseShutdownTimeoutSeconds("1500ms"), 2);
  });

  it("refuses zero, more than an hour (vigild's limit) and junk", () => {
    for (const text of ["0", "0s", "3601", "2h", "soon", "-1"]) assert.equal(parseShutdownTimeoutSeconds(text), null, text);
  });
});

describe("endpoints", () => {
  it("keep host:port and scheme targets, and add port 7400 to a bare host", () => {
    assert.equal(parseEndpoint("cp1:7401"), "cp1:7401");
    assert.equal(parseEndpoint("cp1"), "cp1:7400");
    assert.equal(parseEndpoint("[fe80::1]:7402"), "[fe80::1]:7402");
    assert.equal(parseEndpoint("dns:///cp.example:7400"), "dns:///cp.example:7400");
    assert.equal(parseEndpoint("unix:///run/vigil/vigild.sock"), "unix:///run/vigil/vigild.sock");
  });

  it("refuse empty entries, spaces and bad ports", () => {
    for (const text of ["", "cp 1", "cp1:0", "cp1:65536", "cp1:port", "a/b"]) assert.equal(parseEndpoint(text), null, text);
  });

  it("split a comma list in order, skip empty items and duplicates, and name the first bad entry", () => {
    assert.deepEqual(parseEndpointList("cp1, cp2:7401,,cp1"), { endpoints: ["cp1:7400", "cp2:7401"] });
    assert.deepEqual(parseEndpointList("cp1,cp 2"), { bad: "cp 2" });
    assert.deepEqual(parseEndpointList(" , "), { bad: " , " });
  });
});

describe("name lists", () => {
  it("trim, drop empty items and duplicates; empty text is the empty list", () => {
    assert.deepEqual(parseNameList("h1, h2,,h1"), ["h1", "h2"]);
    assert.deepEqual(parseNameList(""), []);
  });
});
