// Proves every scenario folder under test/scenarios replays against the production code with its
// invariants holding, its expectations true and its log equal to log.expect (first difference shown).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { runScenario, scenarioFolders } from "./scenario.js";

// dist/test/sim/scenarios.test.js → test/scenarios in the source tree.
const scenariosRoot = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "test", "scenarios");

describe("scenarios", () => {
  const folders = scenarioFolders(scenariosRoot);

  it("has at least 30 scenario folders", () => {
    assert.ok(folders.length >= 30, `${folders.length} scenario folders under ${scenariosRoot}`);
  });

  for (const folder of folders) {
    it(folder.split("/").at(-1)!, async () => {
      const result = await runScenario(folder, { writeMissing: false });
      assert.equal(result.outcome, "passed", result.message);
    });
  }
});
