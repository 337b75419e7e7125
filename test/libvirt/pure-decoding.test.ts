// Proves the pure pieces of the binding in isolation: name tables (states, reasons, event details, error codes), job-stats decoding, the reconnect backoff bounds, the worker option filter, and typed-parameter encoding read back through libvirt's own virTypedParamsAdd* and our decoder.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { errorCodeName, errorDomainName } from "../../agent/libvirt/error-names.js";
import { decodeJobStats } from "../../agent/libvirt/job-stats.js";
import { domainStateName, lifecycleDetailName, lifecycleEventName, stateReasonName } from "../../agent/libvirt/names.js";
import { defaultReconnectPolicy, reconnectDelayMs } from "../../agent/libvirt/reconnect-policy.js";
import { decodeTypedParameters, withTypedParameters } from "../../agent/libvirt/typed-params.js";
import { withoutEntryPointOptions } from "../../agent/libvirt/worker-spawn.js";

describe("name tables", () => {
  test("decode states with their reasons", () => {
    assert.equal(domainStateName(1), "running");
    assert.equal(stateReasonName(1, 2), "migrated");
    assert.equal(domainStateName(5), "shutoff");
    assert.equal(stateReasonName(5, 2), "destroyed");
    assert.equal(stateReasonName(3, 1), "user");
  });

  test("decode lifecycle events with their details", () => {
    assert.deepEqual([lifecycleEventName(5), lifecycleDetailName(5, 1)], ["stopped", "destroyed"]);
    assert.deepEqual([lifecycleEventName(2), lifecycleDetailName(2, 0)], ["started", "booted"]);
    assert.deepEqual([lifecycleEventName(2), lifecycleDetailName(2, 1)], ["started", "migrated"]);
  });

  test("decode error codes and domains by libvirt's names", () => {
    assert.equal(errorCodeName(42), "VIR_ERR_NO_DOMAIN");
    assert.equal(errorCodeName(55), "VIR_ERR_OPERATION_INVALID");
    assert.equal(errorCodeName(78), "VIR_ERR_OPERATION_ABORTED");
    assert.equal(errorDomainName(10), "VIR_FROM_QEMU");
  });

  test("name values newer than the tables instead of failing", () => {
    assert.equal(stateReasonName(1, 999), "unknown(999)");
    assert.equal(lifecycleDetailName(99, 0), "unknown(0)");
    assert.equal(errorCodeName(9999), "VIR_ERR_UNKNOWN(9999)");
    assert.equal(domainStateName(42), "nostate");
  });
});

describe("job stats", () => {
  test("derive progress from data processed and total, and keep every raw parameter", () => {
    const stats = decodeJobStats(2, {
      operation: 5,
      time_elapsed: 800,
      time_remaining: 200,
      downtime: 35,
      data_total: 1000,
      data_processed: 250,
      data_remaining: 750,
      memory_iteration: 2,
    });
    assert.equal(stats.type, "unbounded");
    assert.equal(stats.operation, "migration_out");
    assert.equal(stats.progress, 0.25);
    assert.deepEqual([stats.elapsedMs, stats.remainingMs, stats.downtimeMs, stats.memoryIteration], [800, 200, 35, 2]);
    assert.equal(stats.parameters["data_remaining"], 750);
  });

  test("report no progress when libvirt gave no totals", () => {
    const stats = decodeJobStats(0, {});
    assert.deepEqual([stats.type, stats.operation, stats.progress, stats.dataTotalBytes], ["none", "unknown", null, null]);
  });
});

describe("reconnect backoff", () => {
  const noJitter = { ...defaultReconnectPolicy, jitterRatio: 0 };

  test("doubles from the initial delay up to the ceiling and stays there", () => {
    const delays = Array.from({ length: 8 }, (_, attempt) => reconnectDelayMs(attempt, noJitter, 0.5));
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    assert.equal(reconnectDelayMs(10_000, noJitter, 0.5), 5000);
  });

  test("spreads each wait by at most the jitter ratio and never exceeds the ceiling", () => {
    for (const random of [0, 0.25, 0.5, 0.999]) {
      const first = reconnectDelayMs(0, defaultReconnectPolicy, random);
      assert.ok(first >= 200 && first <= 300, `first delay ${first}`);
      assert.ok(reconnectDelayMs(20, defaultReconnectPolicy, random) <= defaultReconnectPolicy.maxDelayMs);
    }
  });
});

describe("worker options", () => {
  test("drop the options of a string entry point and keep the others", () => {
    assert.deepEqual(
      withoutEntryPointOptions(["--enable-source-maps", "--input-type=module", "-e", "console.log(1)", "--no-warnings"]),
      ["--enable-source-maps", "--no-warnings"],
    );
    assert.deepEqual(withoutEntryPointOptions(["--eval=1", "-p", "2", "--print=3"]), []);
  });
});

describe("typed parameters", () => {
  test("round-trip every type through libvirt's virTypedParamsAdd* and the decoder", () => {
    const decoded = withTypedParameters(
      [
        { name: "an_int", type: "int", value: -7 },
        { name: "a_uint", type: "uint", value: 4_000_000_000 },
        { name: "a_llong", type: "llong", value: -(2 ** 40) },
        { name: "an_ullong", type: "ullong", value: 2n ** 50n },
        { name: "a_double", type: "double", value: 0.125 },
        { name: "a_boolean", type: "boolean", value: true },
        { name: "a_string", type: "string", value: "tcp://127.0.0.1" },
      ],
      (pointer, count) => decodeTypedParameters(pointer, count),
    );
    assert.deepEqual(decoded, {
      an_int: -7,
      a_uint: 4_000_000_000,
      a_llong: -(2 ** 40),
      an_ullong: 2 ** 50,
      a_double: 0.125,
      a_boolean: true,
      a_string: "tcp://127.0.0.1",
    });
  });

  test("hand an empty list to libvirt as NULL, 0", () => {
    withTypedParameters([], (pointer, count) => {
      assert.equal(pointer, null);
      assert.equal(count, 0);
    });
  });
});
