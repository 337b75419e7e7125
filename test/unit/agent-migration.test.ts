// Proves the agent's MigrateDomain / AbortJob / QueryDomain handling on libvirt's real test driver
// and a real journal (the test driver cannot migrate: migrations that really move a guest, their
// progress, timeout and abort are proven in test/libvirt/agent-migration.test.ts):
// QueryDomain answers domain_absent for a domain this host lacks; bad input fails naming the field;
// a migration libvirt refuses journals JobStarted, then the FAILED result with libvirt's text, then
// JobFinished failed, in that order; the same control-plane job id gets a fresh journal id for a
// second command; AbortJob of nothing fails "no such job"; a command interrupted by an agent
// restart is answered FAILED on redelivery and not run again.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Command__Output } from "../../common/generated/vigil/v1/Command.js";
import { systemClock, systemTimers } from "../../common/env.js";
import { silentLogger } from "../../common/logging.js";
import { CommandExecutor } from "../../agent/executor.js";
import { Journal, type EventBody } from "../../agent/journal.js";
import { LibvirtConnection } from "../../agent/libvirt/index.js";
import { temporaryDirectory } from "../support/processes.js";
import { domainUuid, testNodeUri } from "../support/test-node.js";
import { waitFor } from "../support/wait.js";

const missingUuid = "00000000-0000-4000-8000-00000000dead";
const destinationUri = "qemu+tcp://nowhere.invalid/system";

function migrate(commandId: string, fields: Partial<NonNullable<Command__Output["migrate"]>>): Command__Output {
  return {
    term: 1,
    commandId,
    action: "migrate",
    migrate: { vmUuid: domainUuid(1, 1), destinationUri, jobId: "job-1", live: true, unsafe: false, bandwidthMibPerS: 0, timeoutMs: 5_000, offline: false, ...fields },
  } as Command__Output;
}

describe("agent migration commands (test driver)", () => {
  const directory = temporaryDirectory("agent-migration");
  let libvirt: LibvirtConnection;
  let journal: Journal;
  let executor: CommandExecutor;
  const newExecutor = () =>
    new CommandExecutor({ journal, hypervisor: libvirt, clock: systemClock, timers: systemTimers, logger: silentLogger(), onJournaled: () => undefined, diskSync: { request: () => undefined }, migration: { progressIntervalMs: 100 } });

  before(async () => {
    libvirt = await LibvirtConnection.open(testNodeUri(directory.path, "h1", 1, 2));
    journal = new Journal(`${directory.path}/journal.db`);
    executor = newExecutor();
  });
  after(async () => {
    await executor.drain();
    await libvirt.close();
    journal.close();
    directory.remove();
  });

  const bodies = (): EventBody[] => journal.pending(0, 10_000).map((event) => event.body);
  const resultOf = (commandId: string) => bodies().find((body) => body.commandResult?.commandId === commandId)?.commandResult;
  const answered = async (command: Command__Output) => {
    executor.handle(command);
    await waitFor(() => resultOf(command.commandId) !== undefined, { timeoutMs: 5_000, what: `the result of ${command.commandId}` });
    return resultOf(command.commandId)!;
  };

  it("answers QueryDomain from libvirt, with domain_absent when this host has no such domain", async () => {
    const present = await answered({ term: 1, commandId: "q-present", action: "query", query: { vmUuid: domainUuid(1, 1) } } as Command__Output);
    assert.equal(present.outcome, "COMMAND_OUTCOME_SUCCEEDED");
    assert.deepEqual([present.domain?.name, present.domain?.state, present.domainAbsent ?? false], ["h1-vm1", "running", false]);

    const absent = await answered({ term: 1, commandId: "q-absent", action: "query", query: { vmUuid: missingUuid } } as Command__Output);
    assert.deepEqual([absent.outcome, absent.domainAbsent, absent.domain ?? null, absent.error], ["COMMAND_OUTCOME_SUCCEEDED", true, null, ""]);

    const empty = await answered({ term: 1, commandId: "q-empty", action: "query", query: { vmUuid: "" } } as Command__Output);
    assert.deepEqual([empty.outcome, empty.error], ["COMMAND_OUTCOME_FAILED", "query.vm_uuid is required"]);
  });

  it("refuses bad MigrateDomain input naming the field, journaling no job", async () => {
    const cases: [string, Partial<NonNullable<Command__Output["migrate"]>>, RegExp][] = [
      ["m-no-vm", { vmUuid: "" }, /^migrate\.vm_uuid is required$/],
      ["m-no-uri", { destinationUri: "" }, /^migrate\.destination_uri is required$/],
      ["m-unknown", { vmUuid: missingUuid }, new RegExp(`^domain ${missingUuid} is not defined on this host$`)],
      ["m-offline-running", { offline: true }, /^an offline migration moves a shut-off persistent domain; h1-vm1 is running$/],
    ];
    for (const [commandId, fields, expected] of cases) {
      const result = await answered(migrate(commandId, fields));
      assert.equal(result.outcome, "COMMAND_OUTCOME_FAILED", commandId);
      assert.match(result.error ?? "", expected, commandId);
    }
    assert.equal(bodies().filter((body) => body.jobStarted).length, 0, "no job was journaled");
    assert.deepEqual(journal.unresolvedJobs(), []);
  });

  it("reports a migration libvirt refuses: JobStarted, then FAILED with libvirt's error, then JobFinished failed", async () => {
    const result = await answered(migrate("m-refused", {}));
    assert.equal(result.outcome, "COMMAND_OUTCOME_FAILED");
    assert.match(result.error ?? "", /virDomainMigrateToURI3/, "libvirt's error names the call");
    assert.equal(result.domain?.state, "running", "the source's view afterwards");
    await waitFor(() => bodies().some((body) => body.jobFinished?.jobId === "job-1"), { timeoutMs: 5_000, what: "JobFinished" });
    const sequence = bodies().filter((body) => body.jobStarted || body.jobFinished || body.commandResult?.commandId === "m-refused");
    assert.deepEqual(sequence.map((body) => Object.keys(body)[0]), ["jobStarted", "commandResult", "jobFinished"]);
    assert.deepEqual(sequence[0]!.jobStarted, { jobId: "job-1", vmUuid: domainUuid(1, 1), kind: "migrate-out", disk: "", chainBefore: [], top: "", target: destinationUri, commandId: "m-refused" });
    assert.equal(sequence[2]!.jobFinished!.outcome, "failed");
    assert.equal(sequence[2]!.jobFinished!.error, result.error);
    assert.equal(journal.job("job-1")?.state, "finished");

    // The same control-plane job again (the fallback's offline step reuses it): a fresh journal id.
    await libvirt.destroyDomain(domainUuid(1, 1));
    const offline = await answered(migrate("m-offline", { offline: true }));
    assert.equal(offline.outcome, "COMMAND_OUTCOME_FAILED");
    assert.equal(bodies().filter((body) => body.jobStarted).at(-1)!.jobStarted!.jobId, "job-1.2");
  });

  it("fails AbortJob when no such job runs, naming the job or the VM", async () => {
    const result = await answered({ term: 1, commandId: "a-none", action: "abortJob", abortJob: { vmUuid: domainUuid(1, 2), jobId: "job-9" } } as Command__Output);
    assert.deepEqual([result.outcome, result.error], ["COMMAND_OUTCOME_FAILED", "no such job: job-9 does not run on this host"]);
    const any = await answered({ term: 1, commandId: "a-any", action: "abortJob", abortJob: { vmUuid: domainUuid(1, 2), jobId: "" } } as Command__Output);
    assert.match(any.error ?? "", /^no such job: no migration of .* runs on this host$/);
    const empty = await answered({ term: 1, commandId: "a-empty", action: "abortJob", abortJob: { vmUuid: "", jobId: "" } } as Command__Output);
    assert.equal(empty.error, "abort_job.vm_uuid is required");
  });

  it("refuses a stale term for a migration before touching libvirt", async () => {
    journal.raiseTerm(5);
    const result = await answered({ ...migrate("m-stale", {}), term: 4 });
    assert.equal(result.outcome, "COMMAND_OUTCOME_REFUSED_STALE_TERM");
    assert.equal(bodies().filter((body) => body.jobStarted?.commandId === "m-stale").length, 0);
  });

  it("answers a redelivered command that an agent restart interrupted as FAILED, without running it again", async () => {
    // Admitted (journaled) by the previous agent process, which died before its result.
    assert.equal(journal.admitCommand("c-interrupted", 5, systemClock.nowMs()).kind, "execute");
    await executor.drain();
    executor = newExecutor();
    const before = (await libvirt.lookupDomain(domainUuid(1, 2)))!.state;
    const result = await answered({ term: 5, commandId: "c-interrupted", action: "destroy", destroy: { vmUuid: domainUuid(1, 2) } } as Command__Output);
    assert.equal(result.outcome, "COMMAND_OUTCOME_FAILED");
    assert.match(result.error ?? "", /agent restarted while running this command/);
    assert.equal((await libvirt.lookupDomain(domainUuid(1, 2)))!.state, before, "not run again");
    // A further redelivery gets the stored answer.
    executor.handle({ term: 5, commandId: "c-interrupted", action: "destroy", destroy: { vmUuid: domainUuid(1, 2) } } as Command__Output);
    await waitFor(() => bodies().filter((body) => body.commandResult?.commandId === "c-interrupted").length === 2, { timeoutMs: 5_000, what: "the duplicate answer" });
    assert.equal(bodies().filter((body) => body.commandResult?.commandId === "c-interrupted")[1]!.commandResult!.outcome, "COMMAND_OUTCOME_DUPLICATE");
  });
});
